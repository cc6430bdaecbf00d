"""The leak check's rule measured on a planted set: real Fashion-MNIST items upscaled and crops of two
real photographs (scikit-learn's bundled sample images), with copies made the ways a host's folder
gets them. Every planted copy must join its original's group; no two different pictures may share one,
save featureless ones (a plain white sky), which a model cannot tell apart either."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from competition.prepare import duplicates, sources
from competition.prepare.fashion import IDX_FILES
from competition.prepare.idx import find_idx, read_idx

SIZE = (112, 112)


def photo_crops() -> list[Image.Image]:
    """30 non-overlapping 128x128 crops of the two sample photographs (a temple, a flower)."""
    from sklearn.datasets import load_sample_images

    return [Image.fromarray(photo[r * 140:r * 140 + 128, c * 128:c * 128 + 128])
            for photo in load_sample_images().images for r in range(3) for c in range(5)]


COPIES = {
    "jpeg-q40": lambda im: im,  # saved at quality 40
    "grey": lambda im: im.convert("L"),
    "bright": lambda im: ImageEnhance.Brightness(im).enhance(1.08),
    "resized": lambda im: im.resize((im.width * 7 // 10, im.height * 7 // 10), Image.Resampling.BICUBIC),
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory, fashion_source):
    """Files of 60 distinct pictures plus their copies; returns (files, original index of each file,
    kind of each file)."""
    folder = tmp_path_factory.mktemp("planted")
    x = read_idx(find_idx(fashion_source, IDX_FILES["x_train"]))[:60]
    originals = [Image.fromarray(a).resize(SIZE, Image.Resampling.LANCZOS).convert("RGB") for a in x[:30]]
    originals += photo_crops()
    files, of, kind = [], [], []

    def add(image: Image.Image, name: str, k: int, what: str, **options):
        path = folder / name
        image.save(path, **options)
        files.append(str(path)), of.append(k), kind.append(what)

    for k, image in enumerate(originals):
        is_photo = k >= 30
        add(image, f"{k}.jpg" if is_photo else f"{k}.png", k, "original", **({"quality": 90} if is_photo else {}))
        if k % 3 == 0:  # copies of every third picture: 10 items, 10 photos
            saved = Image.open(files[-1])
            saved.load()
            for what, make in COPIES.items():
                add(make(saved), f"{k}-{what}.{'jpg' if what == 'jpeg-q40' else 'png'}", k, what,
                    **({"quality": 40} if what == "jpeg-q40" else {}))
            if is_photo:  # the photo's JPEG exported as PNG: the same pixels, an exact copy
                add(saved, f"{k}-export.png", k, "png-export")
    return files, np.array(of), kind



def test_every_planted_copy_joins_its_original_and_no_two_pictures_meet(planted, tmp_path):
    files, of, kind = planted
    staged = sources.fit_and_stage((list(range(len(files))), files, str(tmp_path), SIZE, "RGB", "pad"))
    groups = duplicates.find_groups([d for _, d, _ in staged], np.stack([t for _, _, t in staged]))
    first = {k: i for i, k in reversed(list(enumerate(of)))}
    missed = [f"{k}:{what}" for i, (k, what) in enumerate(zip(of, kind))
              if what != "original" and (groups.group[i] < 0 or groups.group[i] != groups.group[first[k]])]
    assert not missed, f"copies not grouped with their original: {missed}"
    flat = duplicates.small_thumbnails(np.stack([t for _, _, t in staged])).std(axis=1) < duplicates.FLAT
    joined = [g for g in np.unique(groups.group[groups.group >= 0]) if len(set(of[groups.group == g])) > 1]
    # the one exception, documented: featureless pictures of one grey (two crops of a white sky) are one picture
    assert all(flat[groups.group == g].all() for g in joined), "different pictures with a shape grouped"
    assert len(joined) <= 1
    exports = [i for i, what in enumerate(kind) if what == "png-export"]
    assert exports and all(groups.copy[i] for i in exports), "a PNG export of a JPEG is an exact copy"
    assert not any(groups.copy[i] for i, what in enumerate(kind) if what in ("jpeg-q40", "bright", "resized"))


def test_a_png_export_of_a_large_jpeg_is_an_exact_copy_at_any_size(tmp_path):
    """The JPEG is decoded at full size for the digest (a reduced draft decode would give other pixels
    than its PNG export's, and the copy would count only as near)."""
    from sklearn.datasets import load_sample_images

    photo = Image.fromarray(load_sample_images().images[0][:256, :256])
    photo.save(tmp_path / "a.jpg", quality=90)
    Image.open(tmp_path / "a.jpg").save(tmp_path / "a-export.png")
    files = [str(tmp_path / "a.jpg"), str(tmp_path / "a-export.png")]
    for size in ((64, 64), (100, 80), None):
        staged = sources.fit_and_stage(([0, 1], files, str(tmp_path), size, "RGB", "crop"))
        assert staged[0][1] == staged[1][1], size


def test_the_hashes_are_imagehashs(fashion_source):
    """pHash (computed here over all thumbnails at once) and dHash equal ``imagehash``'s, bit for bit."""
    import imagehash

    thumbnails = np.stack([sources.thumbnail(a) for a in read_idx(find_idx(fashion_source, IDX_FILES["x_train"]))[:50]])
    for ours, theirs in ((duplicates.perceptual_hashes(thumbnails), imagehash.phash),
                         (duplicates.difference_hashes(thumbnails), imagehash.dhash)):
        assert [int(h) for h in ours] == [int(str(theirs(Image.fromarray(t))), 16) for t in thumbnails]


def test_alike_pictures_with_two_labels_stay_apart_with_a_margin(fashion_source):
    """Fashion-MNIST's alike items (a Shirt and a T-shirt): among the first 2,000, every candidate pair
    with two labels is more than twice ``MAX_DIFFERENCE`` apart once matched, so the rule groups none
    and a looser threshold would be caught here before a host's honest data set is refused."""
    x = read_idx(find_idx(fashion_source, IDX_FILES["x_train"]))[:2000]
    y = read_idx(find_idx(fashion_source, IDX_FILES["y_train"]))[:2000]
    thumbnails = np.stack([sources.thumbnail(a) for a in x])
    candidates = np.unique(np.concatenate([duplicates.near_pairs(duplicates.perceptual_hashes(thumbnails))[:, :2],
                                           duplicates.near_pairs(duplicates.difference_hashes(thumbnails))[:, :2]]),
                           axis=0)
    two_labels = candidates[y[candidates[:, 0]] != y[candidates[:, 1]]]
    small = duplicates.small_thumbnails(thumbnails)
    assert len(two_labels) > 500
    assert duplicates.matched_difference(small[two_labels[:, 0]], small[two_labels[:, 1]]).min() > \
        2 * duplicates.MAX_DIFFERENCE
    assert not len(duplicates.near_copies(thumbnails))
