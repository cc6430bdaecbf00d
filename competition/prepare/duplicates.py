"""The leak check: group copies and near copies of one picture, so that a split never puts one in
train and another in test (a competitor would then score by remembering, not by learning).

Exact copies have the same pixels once decoded at full size, upright, in the competition's mode (a
digest of them: a PNG export of a JPEG is an exact copy whatever size the competition has). Near copies
(re-encoded, resized, made grey, brighter or darker) are decided on the grey 32x32 thumbnail in two steps:

1. candidates: pairs whose pHash *or* dHash (``imagehash``'s; pHash computed here over all thumbnails
   at once, tested equal to ``imagehash.phash``) are at most ``MAX_DISTANCE`` bits of 64 apart. Either
   hash may move on its own (a JPEG at quality 40 on a flat background moves pHash 6 bits, dHash 0),
   so one close hash is enough to be looked at;
2. the decision: their 16x16 thumbnails differ by at most ``MAX_DIFFERENCE`` grey levels on average once
   brightness and contrast are matched (the mean taken out, the gain fitted within ``GAIN``): a
   +8% brightness copy is 10 levels apart raw and under 2 matched.

The matched thumbnail is what keeps alike but different pictures apart: Fashion-MNIST has 898 pairs of
different items with equal pHashes, 53 of them with different labels; in its first 20,000 images the
rule groups 44 pairs, none with two labels (``MAX_DIFFERENCE`` 5 would still group none; 4 keeps a margin).
Groups are the connected components of both relations. Within a group every image must carry one
label, and exact copies collapse to their first file unless the host keeps them. The report
(``duplicates.csv``, ``duplicates.png``) names original files, so it belongs with the answer key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..fsutil import write_picture

if TYPE_CHECKING:  # pandas is imported where a table is made, not when a command reads its options
    import pandas as pd

MAX_DISTANCE = 4  # bits of 64, for each hash (more makes Fashion-MNIST's candidate pairs explode)
# Mean grey levels apart at 16x16 once brightness and contrast are matched. Fashion-MNIST's closest pair
# of different pictures with two labels is over 5 apart; a JPEG round trip at quality 40, a grey copy,
# a +8% brightness copy and a resized copy of a photo stay under 3 (tests/prepare/test_duplicates.py plants them).
MAX_DIFFERENCE = 4.0
# A picture whose 16x16 thumbnail varies by less than FLAT grey levels (a plain sky, a blank page) has no
# shape for a hash to follow: its hashes are noise (a JPEG at quality 40 moves them 16-29 bits). Such
# pictures are candidates with every other flat one whose mean grey is within FLAT_MEAN levels.
FLAT, FLAT_MEAN = 6.0, 24.0
GAIN = (0.8, 1.25)  # the contrast change a near copy may have: ImageEnhance at 0.8..1.25
SHOWN_PAIRS = 8


class DuplicateError(InputError):
    """Copies of one picture that carry different labels."""


@dataclass
class Groups:
    """Per image: its group (``-1``: no copy), its hash distance to the group's first image, and
    whether it is kept; ``pairs`` are the ``(i, j, distance)`` links found, closest first."""

    group: np.ndarray
    distance: np.ndarray
    kept: np.ndarray
    copy: np.ndarray  # the same pixels as an earlier image
    pairs: np.ndarray  # (n_pairs, 3) int64

    @property
    def n_groups(self) -> int:
        return int(self.group.max()) + 1 if len(self.group) else 0


def near_pairs(hashes: np.ndarray, max_distance: int = MAX_DISTANCE) -> np.ndarray:
    """``(i, j, distance)`` for every pair of 64-bit hashes at most ``max_distance`` bits apart, i < j.

    Pigeonhole: cut the 64 bits into ``max_distance + 1`` blocks; two hashes that close agree on
    at least one block whole, so only pairs that share a block's value are compared (sorted by it,
    neighbours at each offset in one vectorised step) instead of all n^2/2."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    n, found = len(hashes), [np.empty((0, 3), dtype=np.int64)]
    bounds = np.linspace(0, 64, max_distance + 2).astype(np.uint64)
    for low, high in zip(bounds[:-1], bounds[1:]):
        key = (hashes >> low) & np.uint64((1 << int(high - low)) - 1)
        order = np.argsort(key, kind="stable")
        key = key[order]
        active = np.arange(n - 1)  # positions whose key equals the one ``offset`` places on: runs shrink
        for offset in range(1, n):
            active = active[active + offset < n]
            active = active[key[active + offset] == key[active]]
            if not len(active):
                break
            a, b = order[active], order[active + offset]
            distance = np.bitwise_count(hashes[a] ^ hashes[b]).astype(np.int64)
            close = distance <= max_distance
            found.append(np.column_stack([np.minimum(a, b)[close], np.maximum(a, b)[close], distance[close]]))
    pairs = np.unique(np.concatenate(found), axis=0)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0], pairs[:, 2]))]


def perceptual_hashes(thumbnails: np.ndarray) -> np.ndarray:
    """pHash of each ``(32, 32)`` grey thumbnail as a uint64: the signs, against their median, of the
    8x8 lowest frequencies of its 2-D DCT (``imagehash.phash``'s method and bit order)."""
    from scipy.fft import dct

    frequencies = dct(dct(thumbnails.astype(np.float64), axis=1), axis=2)[:, :8, :8].reshape(len(thumbnails), 64)
    bits = frequencies > np.median(frequencies, axis=1, keepdims=True)
    return np.packbits(bits, axis=1).view(">u8").ravel().astype(np.uint64)


def difference_hashes(thumbnails: np.ndarray) -> np.ndarray:
    """``imagehash.dhash`` of each grey thumbnail as a uint64 (whether each pixel of a 9x8 reduction is
    brighter than its left neighbour): it moves where pHash does not, and the other way round."""
    import imagehash
    from PIL import Image

    bits = np.array([imagehash.dhash(Image.fromarray(t)).hash.ravel() for t in thumbnails], dtype=bool)
    return np.packbits(bits.reshape(-1, 64), axis=1).view(">u8").ravel().astype(np.uint64)


def matched_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean grey levels between rows of ``a`` and ``b`` (flattened 16x16 thumbnails) once each row's
    mean is taken out and ``a`` is scaled by the least-squares gain (kept within ``GAIN``): what
    remains after a brightness and contrast change is the picture's own difference."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    gain = np.clip((a * b).sum(axis=1) / np.maximum((a * a).sum(axis=1), 1e-6), *GAIN)
    return np.abs(b - gain[:, None] * a).mean(axis=1)


def small_thumbnails(thumbnails: np.ndarray) -> np.ndarray:
    """Each ``(32, 32)`` thumbnail averaged down to 16x16, flattened to 256 floats."""
    return thumbnails.reshape(len(thumbnails), 16, 2, 16, 2).astype(np.float32).mean(axis=(2, 4)).reshape(
        len(thumbnails), 256)


def confirm(pairs: np.ndarray, thumbnails: np.ndarray, max_difference: float = MAX_DIFFERENCE) -> np.ndarray:
    """The candidate pairs whose thumbnails differ by at most ``max_difference`` grey levels, matched."""
    small = small_thumbnails(thumbnails)
    kept = [np.empty((0, 3), dtype=np.int64)]
    for start in range(0, len(pairs), 100_000):  # bounded memory on large candidate sets
        chunk = pairs[start:start + 100_000]
        difference = matched_difference(small[chunk[:, 0]], small[chunk[:, 1]])
        kept.append(chunk[difference <= max_difference])
    return np.concatenate(kept)


def flat_pairs(small: np.ndarray) -> np.ndarray:
    """``(i, j)`` for every pair of flat thumbnails (rows of ``small``) whose mean grey is within
    ``FLAT_MEAN`` levels: sorted by mean, each compared with the next ones until the means part."""
    flat = np.flatnonzero(small.std(axis=1) < FLAT)
    means = small[flat].mean(axis=1)
    order = flat[np.argsort(means, kind="stable")]
    means = np.sort(means)
    found = [np.empty((0, 2), dtype=np.int64)]
    for offset in range(1, len(order)):
        close = means[offset:] - means[:-offset] <= FLAT_MEAN
        if not close.any():
            break
        a, b = order[:-offset][close], order[offset:][close]
        found.append(np.column_stack([np.minimum(a, b), np.maximum(a, b)]))
    return np.concatenate(found)


def near_copies(thumbnails: np.ndarray, hashes: np.ndarray | None = None) -> np.ndarray:
    """``(i, j, pHash distance)`` for every near copy among ``thumbnails`` (``(n, 32, 32)`` grey): a
    candidate by either hash, confirmed by the matched thumbnails. The one rule ``prepare`` and
    ``check`` decide by."""
    hashes = perceptual_hashes(thumbnails) if hashes is None else hashes
    candidates = np.concatenate([near_pairs(hashes)[:, :2], near_pairs(difference_hashes(thumbnails))[:, :2],
                                 flat_pairs(small_thumbnails(thumbnails))])
    candidates = np.unique(candidates, axis=0)
    found = confirm(np.column_stack([candidates, np.zeros(len(candidates), dtype=np.int64)]), thumbnails)
    found[:, 2] = np.bitwise_count(hashes[found[:, 0]] ^ hashes[found[:, 1]])
    return found


def exact_pairs(digests: list[bytes]) -> np.ndarray:
    """``(first, i, 0)`` for every image whose pixel digest an earlier image has."""
    first: dict[bytes, int] = {}
    pairs = [(first.setdefault(digest, i), i, 0) for i, digest in enumerate(digests)]
    pairs = [pair for pair in pairs if pair[0] != pair[1]]
    return np.array(pairs, dtype=np.int64).reshape(-1, 3)


def find_groups(digests: list[bytes], thumbnails: np.ndarray, keep_duplicates: bool = False) -> Groups:
    """Group exact and near copies (``thumbnails``: ``(n, 32, 32)`` grey); drop every exact copy but
    the first unless ``keep_duplicates``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(digests)
    hashes = perceptual_hashes(thumbnails)
    exact = exact_pairs(digests)
    exact[:, 2] = np.bitwise_count(hashes[exact[:, 0]] ^ hashes[exact[:, 1]])
    pairs = np.concatenate([exact, near_copies(thumbnails, hashes)])
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)
    grouped = sizes[component] > 1
    # groups numbered 0, 1, ... in the order of their first image
    firsts = np.unique(component[grouped], return_index=True)[1]
    number = np.full(len(sizes), -1)
    number[component[grouped][np.sort(firsts)]] = np.arange(len(firsts))
    group = number[component]
    leader = np.zeros(len(sizes), dtype=np.int64)
    leader[component[::-1]] = np.arange(n)[::-1]  # each component's first image
    distance = np.where(grouped, np.bitwise_count(hashes ^ hashes[leader[component]]).astype(np.int64), 0)
    copy = np.zeros(n, dtype=bool)
    copy[exact[:, 1]] = True
    kept = ~copy | keep_duplicates
    pairs = np.unique(pairs, axis=0)  # an exact pair is found by its hash too
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0], pairs[:, 2]))]
    return Groups(group=group, distance=distance, kept=kept, copy=copy, pairs=pairs)


def check_labels(groups: Groups, labels: list[str], shown: list[str]) -> None:
    """Refuse a group whose images carry different labels, naming its files: one of the labels is wrong,
    and only the host can say which."""
    by_group: dict[int, list[int]] = {}
    for i in np.flatnonzero(groups.group >= 0):
        by_group.setdefault(int(groups.group[i]), []).append(int(i))
    conflicts = [members for members in by_group.values() if len({labels[i] for i in members}) > 1]
    if conflicts:
        members = conflicts[0]
        named = ", ".join(f"{shown[i]} ({labels[i]})" for i in members[:6]) + (" ..." if len(members) > 6 else "")
        more = f"; {len(conflicts) - 1} more such groups" if len(conflicts) > 1 else ""
        raise DuplicateError(f"copies of one picture carry different labels: {named}{more}; fix the labels, "
                             "or remove the wrong copy")


def report_table(groups: Groups, labels: list[str], shown: list[str]) -> pd.DataFrame:
    """``group,file,label,status,distance`` for every image that has a copy."""
    import pandas as pd

    members = np.flatnonzero(groups.group >= 0)
    members = members[np.lexsort((members, groups.group[members]))]
    return pd.DataFrame({"group": groups.group[members], "file": [shown[i] for i in members],
                         "label": [labels[i] for i in members],
                         "status": np.where(groups.kept[members], "kept", "dropped"),
                         "distance": groups.distance[members]})


def _short(text: str, width: int = 24) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]


def draw_pairs(groups: Groups, shown: list[str], labels: list[str], image_of, path: Path) -> None:
    """The closest pairs side by side (``image_of(i)``: image ``i``'s pixels), each captioned with its
    files, labels and how close they are, to judge them by eye. Drawn with Pillow: a few milliseconds."""
    from PIL import Image, ImageDraw, ImageFont

    cell, caption, margin, title = 128, 30, 10, 24
    pairs = groups.pairs[:SHOWN_PAIRS]
    row_height = cell + caption + 16
    canvas = Image.new("RGB", (2 * cell + 3 * margin, title + row_height * max(len(pairs), 1)), "white")
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    heading = (f"closest {len(pairs)} of {len(groups.pairs):,} duplicate pairs" if len(pairs)
               else "no exact or near duplicates")
    draw.text((margin, 6), heading, fill="black", font=font)
    for row, (i, j, distance) in enumerate(pairs):
        top = title + row * row_height
        kind = "same pixels" if groups.copy[j] else f"hash distance {distance}"
        draw.text((margin, top), f"group {groups.group[i]}: {kind}", fill="dimgray", font=font)
        for column, k in enumerate((i, j)):
            left = margin + column * (cell + margin)
            picture = Image.fromarray(image_of(k)).convert("RGB")
            scale = cell / max(picture.size)
            size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
            resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.LANCZOS
            canvas.paste(picture.resize(size, resample), (left, top + 14))
            draw.text((left, top + 16 + cell), f"{_short(shown[k])}\n{_short(labels[k])}", fill="black", font=font)
    write_picture(path, canvas)
