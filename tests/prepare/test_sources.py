"""prepare --images: a competition from a folder of the host's own pictures, with the leak check.

The pictures are real: Fashion-MNIST written out as PNG, JPEG, BMP, WebP and GIF of several sizes
and colour modes, with planted copies, junk files and a truncated JPEG."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from competition.prepare.duplicates import near_pairs, perceptual_hashes
from competition.prepare.idx import find_idx, read_idx
from competition.prepare import sources
from competition.prepare.fashion import IDX_FILES
from competition.prepare.own_images import choose_format
from competition.prepare.splits import split_by_group
from competition.prepare.sources import fit_image, write_png
from competition.server.store import Store
from competition.data.loader import main as data_main
from competition.prepare.__main__ import main as prepare_main
from competition.submit import main as submit_main
from tests.helpers import Server, default_ctrl_c, make_competition, in_process

CLASSES = {0: "T-shirt", 1: "Trouser", 3: "Dress", 8: "Bag"}
PER_CLASS = 20


@pytest.fixture(scope="module")
def fashion_pixels(fashion_source) -> tuple[np.ndarray, np.ndarray]:
    """The first ``PER_CLASS`` training images of each class in ``CLASSES``, and their labels."""
    x = read_idx(find_idx(fashion_source, IDX_FILES["x_train"]))[:2000]
    y = read_idx(find_idx(fashion_source, IDX_FILES["y_train"]))[:2000]
    rows = np.concatenate([np.flatnonzero(y == label)[:PER_CLASS] for label in CLASSES])
    return x[rows], y[rows]


def save(array: np.ndarray, path, size=None, mode="L", **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array).convert(mode)
    (image.resize(size, Image.Resampling.BICUBIC) if size else image).save(path, **options)


def write_mixed(root, x, y) -> dict[str, str]:
    """``root/<class>/`` in five formats and three sizes and modes, plus planted files; returns
    the planted files' relative paths by role."""
    formats = [("png", None, "L", {}), ("jpg", (56, 56), "RGB", {"quality": 95}), ("png", (40, 40), "RGBA", {}),
               ("bmp", None, "L", {}), ("webp", (32, 32), "RGB", {"lossless": True})]
    for i, (image, label) in enumerate(zip(x, y)):
        ext, size, mode, options = formats[i % len(formats)]
        save(image, root / CLASSES[label] / f"img{i:03d}.{ext}", size, mode, **options)
    save(np.flipud(x[-1]), root / "Bag" / "still.gif", None, "L")  # a GIF's first frame (a bag upside down)
    bag = root / "Bag"
    original = next(p for p in sorted(bag.glob("*.png")) if p.stat().st_size and Image.open(p).size == (28, 28))
    pixels = np.asarray(Image.open(original))
    save(pixels, bag / "zz-exact-copy.bmp", None, "L")  # other format, same pixels
    save(np.clip(pixels.astype(int) + 3, 0, 255).astype(np.uint8), bag / "zz-near-copy.jpg", None, "L", quality=92)
    save(x[7], root / "stray.png")  # beside the class folders: no class
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (bag / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "Trouser" / "notes.txt").write_text("shot on a phone\n")
    full = root / "Trouser" / "whole.jpg"
    save(x[25], full, (56, 56), "RGB", quality=95)
    (root / "Trouser" / "broken.jpg").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    return {"original": f"Bag/{original.name}", "exact": "Bag/zz-exact-copy.bmp", "near": "Bag/zz-near-copy.jpg"}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, fashion_pixels):
    """The mixed folder, prepared at 28x28 by the command line: (folder, competition, planted, run)."""
    base = tmp_path_factory.mktemp("mixed")
    planted = write_mixed(base / "photos", *fashion_pixels)
    done = in_process(prepare_main, "--images", base / "photos", "--out", base / "c", "--size", "28x28", "--seed",
                    "1", "--title", "Clothes", cwd=base)
    assert done.returncode == 0, done.stderr
    return base / "photos", base / "c", planted, done


def test_mixed_formats_sizes_and_modes_become_one_size_and_mode(mixed):
    _, out, _, done = mixed
    train, sample = pd.read_csv(out / "train.csv", dtype=str), pd.read_csv(out / "test_sample.csv", dtype=str)
    n_images = PER_CLASS * len(CLASSES) + 2  # + GIF + near copy; the exact copy is dropped, broken.jpg skipped
    assert len(train) + len(sample) == n_images
    assert sorted(set(train["class"])) == sorted(CLASSES.values())
    for part, ids in (("train", train["id"]), ("test", sample["id"])):
        assert sorted(os.listdir(out / "images" / part)) == sorted(f"{i}.png" for i in ids)
    for path in list((out / "images" / "test").iterdir())[:20]:
        image = Image.open(path)
        assert image.size == (28, 28) and image.mode == "RGB"  # RGB: some sources have colour
        assert not {"exif", "icc_profile", "dpi"} & set(image.info), "no metadata survives"
    assert "wrote" in done.stdout and "1 exact copies dropped" in done.stdout and "1 unreadable" in done.stdout


def test_junk_is_counted_once_and_an_undecodable_image_is_named(mixed):
    photos, _, _, done = mixed
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert "warning: skipped 3 files that are not images" in done.stderr
    assert "warning: skipped 1 images outside the class sub-folders, so without a class (e.g. stray.png)" in done.stderr
    assert sum("broken.jpg" in line for line in warnings) == 1
    assert f"warning: {photos / 'Trouser' / 'broken.jpg'}: does not decode" in done.stderr
    assert "Traceback" not in done.stderr


def test_nothing_in_the_competitors_folder_names_a_source_file(mixed):
    _, out, _, _ = mixed
    train, sample = pd.read_csv(out / "train.csv", dtype=str), pd.read_csv(out / "test_sample.csv", dtype=str)
    ids = np.concatenate([train["id"].to_numpy(), sample["id"].to_numpy()]).astype(int)
    assert sorted(ids) == list(range(len(ids))), "ids are 0..n-1"
    assert list(train["id"].astype(int)) == sorted(train["id"].astype(int)), "rows in id order, not folder order"
    ours = {"images", "train.csv", "test_sample.csv", "competition.json", ".prepare.json"}
    assert set(os.listdir(out)) - {".cache", ".cache.lock"} == ours
    overview = (out / "competition.json").read_text()
    assert "img" not in overview and "Bag/" not in overview and str(out.parent) not in overview
    # ids are random: the train rows do not come in class order, as the folders did
    assert (train["class"] != train["class"].shift()).sum() > len(CLASSES) + 5
    text = (out / "train.csv").read_text() + (out / "test_sample.csv").read_text()
    assert "img" not in text and "Bag/" not in text


def test_copies_share_one_side_and_the_report_names_them(mixed):
    _, out, planted, _ = mixed
    key = out.with_name("c.grader")
    sources = pd.read_csv(key / "sources.csv", dtype=str)
    report = pd.read_csv(key / "duplicates.csv", dtype=str)
    assert list(report.columns) == ["group", "file", "label", "status", "distance"]
    groups = report.groupby("group")["file"].apply(set)
    (group,) = [files for files in groups if planted["original"] in files]
    assert {planted["exact"], planted["near"]} <= group
    status = report.set_index("file")["status"]
    assert status[planted["exact"]] == "dropped" and status[planted["original"]] == status[planted["near"]] == "kept"
    assert planted["exact"] not in set(sources["file"])
    side = sources.set_index("file")["split"]
    for files in groups:
        kept = [f for f in files if f in side.index]
        assert len({side[f] for f in kept}) == 1, f"group {files} spans train and test"
    assert (key / "duplicates.png").stat().st_size > 1000
    solution = pd.read_csv(key / "solution.csv", dtype=str)
    assert list(solution.columns) == ["id", "class", "Usage"]
    assert set(solution["id"]) == set(sources[sources["split"] == "test"]["id"])
    label_of = dict(zip(sources["id"], sources["file"].str.split("/").str[0]))
    assert all(label_of[i] == c for i, c in zip(solution["id"], solution["class"])), "the key holds the folders' labels"
    assert (solution["Usage"] == "Public").sum() == round(0.3 * len(solution))
    for label, rows in solution.groupby("class"):  # Public is stratified: about 30% of each class
        assert abs((rows["Usage"] == "Public").sum() - 0.3 * len(rows)) <= 1


def test_a_rerun_does_nothing_and_a_changed_folder_rebuilds(mixed, tmp_path):
    photos, out, _, _ = mixed
    stamp = (out / "train.csv").stat().st_mtime_ns
    again = in_process(prepare_main, "--images", photos, "--out", out, "--size", "28x28", "--seed", "1",
                     "--title", "Clothes", cwd=tmp_path)
    assert again.returncode == 0 and "already prepared" in again.stdout
    assert (out / "train.csv").stat().st_mtime_ns == stamp


def test_the_competitors_flow_runs_on_the_result(mixed, tmp_path):
    _, out, _, _ = mixed
    check = in_process(data_main, "check", out)
    assert check.returncode == 0, check.stderr
    assert "28x28 RGB" in check.stdout and "identical    none" in check.stdout
    done = in_process(submit_main, "--model", "dt", "--data", out, "--folds", "3", "--param", "max_depth=5",
                    "--name", "tree", "--grade", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "CV accuracy 0." in done.stdout and "public accuracy" in done.stdout
    store = Store(tmp_path / "grader.sqlite")
    token = store.add_team("ants")
    server = Server(out, tmp_path / "grader.sqlite")
    try:
        answer = server.upload(token, (tmp_path / "submissions" / "tree.csv").read_bytes())
    finally:
        server.stop()
    assert answer.status_code == 201, answer.text
    assert 0.3 < answer.json()["public"] <= 1.0


def test_a_lossless_folder_keeps_every_pixel_and_label(tmp_path, fashion_pixels):
    """PNGs of one size: no resizing, so each output image is its source exactly (one stored turned
    a quarter with an EXIF orientation tag, which prepare turns upright)."""
    x, y = fashion_pixels
    photos = tmp_path / "photos"
    for i, (image, label) in enumerate(zip(x, y)):
        save(image, photos / CLASSES[label] / f"{i}.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    Image.fromarray(np.rot90(x[0], 1)).save(photos / CLASSES[y[0]] / "0.png", exif=exif)
    done = in_process(prepare_main, "--images", photos, "--out", tmp_path / "c", "--test-size", "20",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sources = pd.read_csv(tmp_path / "c.grader" / "sources.csv", dtype=str)
    assert (sources["split"] == "test").sum() == 20
    labels = pd.concat([pd.read_csv(tmp_path / "c" / "train.csv", dtype=str),
                        pd.read_csv(tmp_path / "c.grader" / "solution.csv", dtype=str)]).set_index("id")["class"]
    for image_id, file, split in zip(sources["id"], sources["file"], sources["split"]):
        i = int(file.split("/")[1][:-4])
        pixels = np.asarray(Image.open(tmp_path / "c" / "images" / split / f"{image_id}.png"))
        assert pixels.dtype == np.uint8 and np.array_equal(pixels, x[i]), file
        assert labels[image_id] == CLASSES[y[i]] == file.split("/")[0]
    dropped = pd.read_csv(tmp_path / "c.grader" / "duplicates.csv").query("status == 'dropped'")
    assert len(sources) == len(x) - len(dropped)


def test_a_labels_csv_names_files_in_any_layout(tmp_path, fashion_pixels):
    x, y = fashion_pixels
    photos = tmp_path / "photos"
    rows = []
    for i, (image, label) in enumerate(zip(x, y)):
        save(image, photos / "all" / f"p{i}.png")
        rows.append({"path": f"all/p{i}.png", "class": CLASSES[label]})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    done = in_process(prepare_main, "--images", photos, "--labels", tmp_path / "labels.csv", "--out",
                    tmp_path / "c", "--keep-duplicates", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sources = pd.read_csv(tmp_path / "c.grader" / "sources.csv", dtype=str)
    assert len(sources) == len(x), "--keep-duplicates: every file is kept"
    truth = {f"all/p{i}.png": CLASSES[label] for i, label in enumerate(y)}
    train = pd.read_csv(tmp_path / "c" / "train.csv", dtype=str).set_index("id")["class"]
    for image_id, file in zip(sources["id"], sources["file"]):
        if image_id in train.index:
            assert train[image_id] == truth[file]


def conflicting(tmp_path, x):
    for name, label in (("a.png", "Bag"), ("b.png", "Bag"), ("copy.png", "Dress"), ("c.png", "Dress")):
        save(x[{"a.png": 0, "b.png": 1, "copy.png": 0, "c.png": 2}[name]], tmp_path / "photos" / label / name)


def symlink_loop(tmp_path, x):
    save(x[0], tmp_path / "photos" / "Bag" / "a.png")
    save(x[1], tmp_path / "photos" / "Bag" / "b.png")
    os.symlink("..", tmp_path / "photos" / "Bag" / "back")


def csv_rows(rows):
    def make(tmp_path, x):
        for i in range(4):
            save(x[i], tmp_path / "photos" / f"{i}.png")
        save(x[5], tmp_path / "x.png")
        (tmp_path / "labels.csv").write_text("file,label\n" + "".join(f"{f},{lab}\n" for f, lab in rows))
    return make


def two_classes(tmp_path, x, sizes=((28, 28),) * 4, one_class_of_one=False):
    for i, size in enumerate(sizes):
        save(x[i], tmp_path / "photos" / ("Bag" if i % 2 or one_class_of_one and i else "Dress") / f"{i}.png", size)


GOOD_ROWS = [("0.png", "a"), ("1.png", "a"), ("2.png", "b"), ("3.png", "b")]
BAD_INPUTS = {
    "empty folder": (lambda t, x: (t / "photos").mkdir(), [], "photos: empty folder"),
    "no sub-folders": (lambda t, x: save(x[0], t / "photos" / "a.png"), [], "no class sub-folders"),
    "blank label": (csv_rows(GOOD_ROWS[:2] + [("2.png", "")]), ["--labels", "labels.csv"],
                    "labels.csv, line 4: blank label"),
    "missing file": (csv_rows(GOOD_ROWS + [("9.png", "b")]), ["--labels", "labels.csv"],
                     "labels.csv, line 6: "),
    "outside": (csv_rows(GOOD_ROWS + [("../x.png", "b")]), ["--labels", "labels.csv"],
                "labels.csv, line 6: '../x.png' is outside"),
    "symlink loop": (symlink_loop, [], "Bag/back: symlink loop (leads back to "),
    "listed twice": (csv_rows(GOOD_ROWS + [("./1.png", "a")]), ["--labels", "labels.csv"],
                     "labels.csv, line 6: './1.png' is already listed on line 3"),
    "label reads as missing": (lambda t, x: (two_classes(t, x), (t / "photos" / "Bag").rename(t / "photos" / "NA")),
                               [], "photos/NA: label 'NA' reads as a missing value"),
    "zero size": (two_classes, ["--size", "0x5"], "argument --size: width and height must be from 1"),
    "test size": (two_classes, ["--test-size", "1.5"], "argument --test-size: must be a fraction between 0 and 1"),
    "mixed sizes": (lambda t, x: two_classes(t, x, ((28, 28), (28, 28), (30, 20), (28, 28))), [],
                    "the images differ in size (28x28: 3, 30x20: 1); choose one with --size"),
    "labels conflict": (conflicting, [], "copies of one picture carry different labels: Bag/a.png (Bag), "
                                         "Dress/copy.png (Dress)"),
    "class of one": (lambda t, x: two_classes(t, x, one_class_of_one=True), [],
                     "class Dress (1) has fewer than 2 images"),
    "out inside": (two_classes, ["--out", "photos/c"], "is inside --images"),
    "out holds": (lambda t, x: two_classes(t / "c", x), ["--images", "c/photos", "--out", "c"], "/c: holds --images "),
    "out is a user's": (lambda t, x: (two_classes(t, x), (t / "c").mkdir(), (t / "c" / "mine.txt").write_text("x")),
                        [], "c: exists and was not built by competition.prepare"),
    "strict": (lambda t, x: (two_classes(t, x), (t / "photos" / "Bag" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0")),
               ["--strict"], "bad.jpg: "),
    "classes read as one": (lambda t, x: [save(x[i], t / "photos" / name / f"{i}{j}.png") for i, name in
                                          enumerate(("1", "01", "1.0")) for j in range(2)], [],
                            "photos: classes '01' and '1' read as one number"),
    "no public row": (two_classes, ["--test-size", "2", "--public", "0.2"],
                      "2 test rows give 0 Public and 2 Private rows; the answer key needs both"),
    "metric cannot score the key": (two_classes, ["--test-size", "2", "--public", "0.5", "--metric", "roc_auc_ovr"],
                                    "would not be gradable: "),
    "file name not UTF-8": (lambda t, x: (two_classes(t, x),
                                          os.rename(os.fsencode(t / "photos" / "Bag" / "1.png"),
                                                    os.fsencode(t / "photos" / "Bag") + b"/\xff1.png")),
                            [], "photos/Bag/\\xff1.png: the name is not UTF-8 text; rename it"),
    "class folder not UTF-8": (lambda t, x: (two_classes(t, x), os.rename(os.fsencode(t / "photos" / "Bag"),
                                                                          os.fsencode(t / "photos") + b"/B\xe9g")),
                               [], "photos/B\\xe9g: the name is not UTF-8 text; rename it"),
    "fashion option": (two_classes, ["--limit-train", "5"], "--limit-train is for Fashion-MNIST, not --images"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, fashion_pixels, case):
    make, options, message = BAD_INPUTS[case]
    make(tmp_path, fashion_pixels[0])
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    out = ["--out", "c"] if "--out" not in options else []
    done = in_process(prepare_main, "--images", "photos", *out, *options, cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.splitlines()[-1].startswith("error: "), done.stderr
    assert message in done.stderr.splitlines()[-1] and "Traceback" not in done.stderr, done.stderr
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert set(after) - set(before) <= {tmp_path / ".c.prepare.lock"}, "nothing written but the lock"
    assert all(after[p] == stamp for p, stamp in before.items() if p.exists() and not p.is_symlink())


def test_options_of_the_other_source_are_refused(tmp_path):
    done = in_process(prepare_main, "--size", "28x28", "--out", "c", cwd=tmp_path)
    assert done.returncode == 1 and "--size needs --images DIR" in done.stderr


def test_near_pairs_finds_exactly_the_close_pairs(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, size=60, dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, size=(60, 6)).astype(np.uint64)
    near = base.copy()
    for k in range(60):  # a copy of each hash with 0 to 6 bits flipped
        for bit in flips[k, : k % 7]:
            near[k] ^= bit
    hashes = np.concatenate([base, near])
    found = {(int(i), int(j)): int(d) for i, j, d in near_pairs(hashes, 4)}
    brute = {(i, j): bin(int(hashes[i] ^ hashes[j])).count("1") for i in range(120) for j in range(i + 1, 120)}
    assert found == {pair: d for pair, d in brute.items() if d <= 4}
    assert len(found) >= 40


def test_split_keeps_groups_whole_and_classes_balanced():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.array(["a", "b", "c"]), [100, 50, 20])
    group = np.full(len(labels), -1)
    group[:30] = np.arange(30) // 3  # ten groups of three in class a
    group[100:104] = 10  # one of four in class b
    test = split_by_group(labels, group, 0.2, rng)
    for g in range(11):
        assert len(set(test[group == g])) == 1
    for label, n in (("a", 100), ("b", 50), ("c", 20)):
        assert abs(test[labels == label].sum() - 0.2 * n) <= 1
    pairs = np.array(["a", "a", "b", "b"])
    test = split_by_group(pairs, np.full(4, -1), 0.9, rng)
    assert test.sum() == 2 and (~test[:2]).any() and (~test[2:]).any(), "every class keeps a train image"


def test_data_check_reports_test_images_identical_to_train_ones(tmp_path):
    root, pixels = make_competition(tmp_path / "comp", {f"{i}": "ab"[i % 2] for i in range(8)}, ["t0", "t1", "t2"])
    clean = in_process(data_main, "check", root)
    assert "identical    none" in clean.stdout
    (root / "images" / "test" / "t1.png").write_bytes((root / "images" / "train" / "5.png").read_bytes())
    leaky = in_process(data_main, "check", root)
    assert leaky.returncode == 0 and "identical    1 test images have the pixels of a train image (test t1 = train 5)" \
        in leaky.stdout


def test_ctrl_c_while_decoding_leaves_nothing(tmp_path, fashion_source):
    x = read_idx(find_idx(fashion_source, IDX_FILES["x_test"]))[:3000]
    for i, image in enumerate(x):
        save(image, tmp_path / "photos" / "ab"[i % 2] / f"{i}.png")
    proc = subprocess.Popen([sys.executable, "-m", "competition.prepare", "--images", "photos", "--out", "c",
                             "--size", "28x28", "--mode", "L", "--keep-duplicates"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=default_ctrl_c)
    deadline = time.monotonic() + 60
    while not any(tmp_path.glob(".c.building-*/scratch/*.png")) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert not list(tmp_path.glob(".c.building-*")) and not (tmp_path / "c").exists()
    assert not (tmp_path / "c.grader").exists() and len(list((tmp_path / "photos").rglob("*.png"))) == 3000


def test_a_changed_folder_is_rebuilt(tmp_path, fashion_pixels):
    x = fashion_pixels[0]
    for i in range(8):
        save(x[i], tmp_path / "photos" / "ab"[i % 2] / f"{i}.png")
    first = in_process(prepare_main, "--images", "photos", "--out", "c", cwd=tmp_path)
    assert first.returncode == 0 and "too few for 5-fold CV: a (4), b (4)" in first.stderr
    save(x[12], tmp_path / "photos" / "a" / "new.png")
    again = in_process(prepare_main, "--images", "photos", "--out", "c", cwd=tmp_path)
    assert again.returncode == 0 and "already prepared" not in again.stdout and "a (5)" not in again.stderr
    assert "new.png" in (tmp_path / "c.grader" / "sources.csv").read_text()


def test_a_wide_picture_is_fitted_to_a_square():
    """Three bands, 12x4: pad keeps all three between black bars, crop only the centre one, stretch
    all three over the whole square."""
    bands = np.repeat(np.array([[50] * 4 + [100] * 4 + [200] * 4], dtype=np.uint8), 4, axis=0)
    fitted = {fit: np.asarray(fit_image(Image.fromarray(bands), (12, 12), fit)).astype(int)
              for fit in ("pad", "crop", "stretch")}
    assert all(pixels.shape == (12, 12) for pixels in fitted.values())
    assert (fitted["pad"][:4] == 0).all() and (fitted["pad"][8:] == 0).all() and (fitted["pad"][4:8] == bands).all()
    assert 60 < fitted["crop"].min() and fitted["crop"].max() < 150  # the 100 band only (with Lanczos ringing)
    assert np.abs(fitted["stretch"][:, [0, 5, 11]] - [50, 100, 200]).max() <= 3


def test_colour_pngs_keep_their_channels(tmp_path):
    rng = np.random.default_rng(2)
    for channels, mode in ((3, "RGB"), (4, "RGBA")):
        pixels = rng.integers(0, 256, size=(5, 7, channels), dtype=np.uint8)
        write_png(str(tmp_path / f"{mode}.png"), pixels)
        image = Image.open(tmp_path / f"{mode}.png")
        assert image.mode == mode and np.array_equal(np.asarray(image), pixels)


def test_a_perceptual_hash_splits_its_frequencies_at_the_median():
    """pHash: 64 bits, set where a low frequency is above the median of the 64: 32 ones each."""
    thumbnails = np.random.default_rng(3).integers(0, 256, size=(50, 32, 32)).astype(np.uint8)
    thumbnails[:25] //= 8  # dark ones: skewed frequencies, where a mean would differ from the median
    assert set(np.bitwise_count(perceptual_hashes(thumbnails)).tolist()) == {32}


@pytest.mark.parametrize("orientation,stored", [(6, 1), (8, -1)])
def test_phone_photos_turned_a_quarter_are_read_upright(tmp_path, fashion_pixels, orientation, stored):
    """A phone stores a portrait photo as landscape pixels with EXIF orientation 6 or 8 ("turn a
    quarter to display"): its size and pixels are the upright picture's, like a plain upright file's."""
    upright = np.asarray(Image.fromarray(fashion_pixels[0][0]).resize((20, 36), Image.Resampling.LANCZOS))  # 20 wide
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.rot90(upright, stored)).save(tmp_path / "phone.jpg", quality=95, exif=exif)
    Image.fromarray(upright).save(tmp_path / "plain.png")
    files = [str(tmp_path / "phone.jpg"), str(tmp_path / "plain.png")]
    headers = sources.read_headers(files)
    assert [h[:2] for h in headers] == [(20, 36), (20, 36)], "the header's size is the upright one"
    assert choose_format(headers, None, None) == ((20, 36), "L")
    staged = sources.fit_and_stage(([0, 1], files, str(tmp_path), None, "L", "pad"))
    pixels = np.asarray(Image.open(tmp_path / "0.png"))
    assert pixels.shape == (36, 20) and np.abs(pixels.astype(int) - upright).mean() < 4, "upright, not turned"
    assert staged[0][1] != staged[1][1]  # a JPEG: near, not exact


def test_keep_duplicates_keeps_every_exact_copy_on_one_side(tmp_path, fashion_pixels):
    x, y = fashion_pixels
    photos = tmp_path / "photos"
    for i in range(12):
        save(x[i * 5], photos / CLASSES[y[i * 5]] / f"{i}.png")
    copy = photos / CLASSES[y[0]] / "copy.bmp"
    save(x[0], copy)  # the same pixels as 0.png
    for keep, dropped in ((["--keep-duplicates"], 0), ([], 1)):
        out = tmp_path / f"c{len(keep)}"
        done = in_process(prepare_main, "--images", photos, "--out", out, "--test-size", "3", *keep, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        listed = pd.read_csv(out.with_name(out.name + ".grader") / "sources.csv", dtype=str)
        report = pd.read_csv(out.with_name(out.name + ".grader") / "duplicates.csv", dtype=str)
        assert len(listed) == 13 - dropped and (report["status"] == "dropped").sum() == dropped
        pair = listed[listed["file"].isin([f"{CLASSES[y[0]]}/0.png", f"{CLASSES[y[0]]}/copy.bmp"])]
        assert len(pair) == 2 - dropped and pair["split"].nunique() == 1
