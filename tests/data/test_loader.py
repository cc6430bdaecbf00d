"""The loader: arrays equal to the source, a cache that notices changes, and clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from competition.data import images
from competition.data.cache import FOLDER
from competition.data.loader import class_names, load_competition
from competition.data.loader import main as data_main
from competition.data.images import PNG_SIGNATURE
from competition.prepare.idx import find_idx, read_idx
from competition.prepare.fashion import IDX_FILES
from competition.data.records import CompetitionDataError, CompetitionDataWarning
from tests.helpers import SMALL_TEST, SMALL_TRAIN, make_competition, in_process, write_png


def test_arrays_equal_the_idx_source_in_csv_order(fashion_copy, fashion_source):
    comp = load_competition(fashion_copy)
    x_train = read_idx(find_idx(fashion_source, IDX_FILES["x_train"]))[:SMALL_TRAIN]
    y_train = read_idx(find_idx(fashion_source, IDX_FILES["y_train"]))[:SMALL_TRAIN]
    assert comp.x_train.shape == (SMALL_TRAIN, 28, 28, 1) and comp.x_train.dtype == np.uint8
    assert np.array_equal(comp.x_train[..., 0], x_train)
    assert np.array_equal(comp.y_train, y_train) and comp.y_train.dtype.kind == "i"
    assert list(comp.train_ids) == list(pd.read_csv(fashion_copy / "train.csv", dtype=str)["id"])
    assert list(comp.test_ids) == list(pd.read_csv(fashion_copy / "test_sample.csv", dtype=str)["id"])
    assert comp.x_test.shape == (SMALL_TEST, 28, 28, 1)
    for row in (0, SMALL_TEST - 1):
        png = np.asarray(Image.open(fashion_copy / "images" / "test" / f"{comp.test_ids[row]}.png"))
        assert np.array_equal(comp.x_test[row, :, :, 0], png)
    assert list(comp.classes) == list(range(10)) and comp.name == "fashion-copy"


def test_cache_is_built_then_used(fashion_copy):
    first = load_competition(fashion_copy)
    assert first.cache_status == "built" and (fashion_copy / FOLDER / "meta.json").is_file()
    second = load_competition(fashion_copy)
    assert second.cache_status == "hit"
    for field in ("x_train", "y_train", "train_ids", "x_test", "test_ids", "classes"):
        assert np.array_equal(getattr(first, field), getattr(second, field)), field
    assert second.fingerprint == first.fingerprint and len(first.fingerprint) == 64
    second.x_train[0] = 255  # arrays are writable, and edits never reach the cache
    assert np.array_equal(load_competition(fashion_copy).x_train[0], first.x_train[0])


def rewrite_image(path, value):
    st = path.stat()
    Image.fromarray(np.full((28, 28), value, dtype=np.uint8)).save(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_cache_notices_an_image_rewritten_in_place(fashion_copy):
    comp = load_competition(fashion_copy)
    rewrite_image(fashion_copy / "images" / "train" / f"{comp.train_ids[5]}.png", 7)
    again = load_competition(fashion_copy)
    assert again.cache_status == "built" and (again.x_train[5] == 7).all()
    assert again.fingerprint != comp.fingerprint


def test_quick_verify_skips_per_image_checks_but_sees_csv_changes(fashion_copy):
    comp = load_competition(fashion_copy)
    rewrite_image(fashion_copy / "images" / "train" / f"{comp.train_ids[5]}.png", 7)
    assert load_competition(fashion_copy, verify="quick").cache_status == "hit"  # documented blind spot
    train = pd.read_csv(fashion_copy / "train.csv", dtype=str)
    train.loc[0, "class"] = "3" if train.loc[0, "class"] != "3" else "4"
    train.to_csv(fashion_copy / "train.csv", index=False)
    again = load_competition(fashion_copy, verify="quick")
    assert again.cache_status == "built" and str(again.y_train[0]) == train.loc[0, "class"]


def test_unwritable_folder_loads_without_cache(fashion_copy, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # as in a read-only folder (root ignores chmod): neither the lock file nor the build folder can be made
    monkeypatch.setattr("competition.fsutil.tempfile.mkdtemp", refuse)
    monkeypatch.setattr("competition.data.cache.lock", refuse)
    comp = load_competition(fashion_copy)
    assert comp.cache_status.startswith("off (") and "not writable" in comp.cache_status
    assert not (fashion_copy / FOLDER).exists() and comp.x_train.shape == (SMALL_TRAIN, 28, 28, 1)
    assert load_competition(fashion_copy, cache=False).cache_status == "off (disabled)"


def test_string_labels_string_ids_and_rgb(tiny):
    comp = load_competition(tiny, min_class_rows=2)
    assert comp.x_train.shape == (12, 8, 8, 3) and comp.x_test.shape == (5, 8, 8, 3)
    assert comp.y_train.dtype.kind == "U" and list(comp.classes) == ["bird", "cat", "dog"]
    assert comp.train_ids[0] == "000" and list(comp.test_ids) == [f"t{i}" for i in range(5)]


def test_crlf_bom_and_whitespace_csvs(tmp_path):
    root, pixels = make_competition(tmp_path / "c", {"a": 1, "b": 2, "c": 1, "d": 2}, ["x", "y"], shape=(3, 3, 1))
    (root / "train.csv").write_bytes("\ufeffid , class\r\n a ,1\r\nb, 2 \r\nc,1\r\nd,2\r\n".encode("utf-8"))
    (root / "test_sample.csv").write_bytes("\ufeffid,class\r\ny,0\r\n x ,0\r\n".encode("utf-8"))
    comp = load_competition(root, min_class_rows=2)
    assert list(comp.train_ids) == ["a", "b", "c", "d"] and list(comp.y_train) == [1, 2, 1, 2]
    assert list(comp.test_ids) == ["y", "x"]
    assert np.array_equal(comp.x_test[0], pixels["test/y"])


def test_extra_png_is_reported_not_fatal(tiny):
    write_png(tiny / "images" / "train" / "stray.png", np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.warns(CompetitionDataWarning, match="1 PNG.*not listed in train.csv.*stray.png"):
        comp = load_competition(tiny, min_class_rows=2)
    assert len(comp.train_ids) == 12


def test_small_class_warns(tiny):
    with pytest.warns(CompetitionDataWarning, match="fewer than 5 rows.*bird \\(4\\)"):
        load_competition(tiny)


def edit_csv(path, **changes):
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for (row, column), value in changes.get("cells", {}).items():
        table.loc[row, column] = value
    if "columns" in changes:
        table.columns = changes["columns"]
    table.to_csv(path, index=False)


def number_labels(root, odd: dict[int, str]):
    """Labels 0, 1, 2 in turn in train.csv, but ``odd`` (row -> label text)."""
    edit_csv(root / "train.csv", cells={(row, "class"): odd.get(row, str(row % 3)) for row in range(12)})


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG file whose header declares ``width`` x ``height`` grey pixels (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(100_000))) + chunk(b"IEND", b"")


BROKEN = {
    "no train.csv": (lambda r: (r / "train.csv").unlink(), r"train.csv: missing"),
    "no test_sample.csv": (lambda r: (r / "test_sample.csv").unlink(), r"test_sample.csv: missing"),
    "no image folder": (lambda r: os.rename(r / "images" / "test", r / "images" / "tst"),
                        r"images/test: missing image folder"),
    "no id column": (lambda r: edit_csv(r / "train.csv", columns=["ident", "class"]), r"train.csv: no 'id' column"),
    "no label column": (lambda r: edit_csv(r / "train.csv", columns=["id", "label"]), r"train.csv: no 'class' column"),
    "sample with 3 columns": (lambda r: (r / "test_sample.csv").write_text("id,class,x\nt0,cat,1\n"),
                              r"test_sample.csv: expected an id column and one label column"),
    "duplicate train id": (lambda r: edit_csv(r / "train.csv", cells={(7, "id"): "002"}),
                           r"train.csv: duplicate id '002' on lines 4, 9"),
    "duplicate test id": (lambda r: edit_csv(r / "test_sample.csv", cells={(4, "id"): "t1"}),
                          r"test_sample.csv: duplicate id 't1' on lines 3, 6"),
    "empty label": (lambda r: edit_csv(r / "train.csv", cells={(3, "class"): ""}),
                    r"train.csv, line 5: empty or NaN label"),
    "NaN label": (lambda r: edit_csv(r / "train.csv", cells={(6, "class"): "NaN"}),
                  r"train.csv, line 8: empty or NaN label"),
    "id with slash": (lambda r: edit_csv(r / "train.csv", cells={(2, "id"): "a/b"}),
                      r"train.csv, line 4: id 'a/b' cannot name"),
    "id without png": (lambda r: (r / "images" / "train" / "005.png").unlink(),
                       r"images/train/005.png: missing \(train.csv line 7 lists id '005'\)"),
    "test id without png": (lambda r: (r / "images" / "test" / "t3.png").unlink(),
                            r"images/test/t3.png: missing \(test_sample.csv line 5"),
    "png that does not decode": (lambda r: (r / "images" / "train" / "004.png")
                                 .write_bytes(b"\x89PNG\r\n\x1a\nrubbish"),
                                 r"images/train/004.png: truncated PNG"),
    "not a png at all": (lambda r: (r / "images" / "train" / "004.png").write_text("hello"),
                         r"004.png: not a PNG file"),
    "mixed size": (lambda r: write_png(r / "images" / "train" / "009.png", np.zeros((9, 8, 3), np.uint8)),
                   r"009.png: image is 8x9 RGB, but .*000.png is 8x8 RGB"),
    "mixed mode": (lambda r: write_png(r / "images" / "train" / "009.png", np.zeros((8, 8), np.uint8)),
                   r"009.png: image is 8x8 grey, but .*000.png is 8x8 RGB"),
    "test size differs": (lambda r: [write_png(r / "images" / "test" / f"t{i}.png", np.zeros((6, 6, 3), np.uint8))
                                     for i in range(5)],
                          r"images/test/t0.png: image is 6x6 RGB, but .*000.png is 8x8 RGB"),
    "empty csv": (lambda r: (r / "train.csv").write_text(""), r"train.csv: empty file"),
    "no rows": (lambda r: (r / "train.csv").write_text("id,class\n"), r"train.csv: no rows"),
    "not utf-8": (lambda r: (r / "train.csv").write_bytes("id,class\n001,caf\xe9\n".encode("latin-1")),
                  r"train.csv: not UTF-8"),
    "ragged csv": (lambda r: (r / "train.csv").write_text("id,class\n000,cat\n001,dog,extra,more\n"),
                   r"train.csv, line 3: not a valid CSV \(4 field\(s\), the header has 2\)"),
    "short row": (lambda r: (r / "train.csv").write_text("id,class\n000,cat\n\n001\n"),
                  r"train.csv, line 4: not a valid CSV \(1 field\(s\), the header has 2\)"),
    "column twice": (lambda r: (r / "train.csv").write_text("id,class,class\n000,cat,dog\n"),
                     r"train.csv: column\(s\) class named twice in the header"),
    "one class": (lambda r: (r / "train.csv").write_text("id,class\n" + "".join(f"{i:03d},dog\n" for i in range(12))),
                  r"train.csv: every row has label 'dog' in column 'class'; a classifier needs at least two classes"),
    "only blank rows": (lambda r: (r / "train.csv").write_text(" , \n\n,\n"), r"train.csv: empty file"),
    "one number written two ways": (lambda r: edit_csv(r / "train.csv", cells={(2, "class"): "1", (7, "class"): "1.0"}),
                                    r"train.csv, lines 4 and 9: labels '1' and '1.0' in column 'class' are one number"),
    "minus zero beside zero": (lambda r: number_labels(r, {4: "-0"}),
                               r"train.csv, lines 2 and 6: labels '-0' and '0' in column 'class' are one number"),
    "label beyond int64": (lambda r: number_labels(r, {4: "99999999999999999999"}),
                           r"train.csv, line 6: label '99999999999999999999' in column 'class' is beyond the 64-bit"),
    "image path is a folder": (lambda r: [(r / "images" / "train" / "004.png").unlink(),
                                          (r / "images" / "train" / "004.png").mkdir()],
                               r"images/train/004.png: not a regular file \(a folder\)"),
    "decompression bomb": (lambda r: (r / "images" / "train" / "004.png").write_bytes(png_claiming(30000, 30000)),
                           r"images/train/004.png: declares 30000x30000 pixels, over the limit of 89,478,485"),
    "odd first image": (lambda r: write_png(r / "images" / "train" / "000.png", np.zeros((9, 8, 3), np.uint8)),
                        r"images/train/000.png: image is 8x9 RGB, but .*/00\d.png is 8x8 RGB"),
    "huge first image": (lambda r: (r / "images" / "train" / "000.png").write_bytes(png_claiming(30000, 30000)),
                         r"images/train/000.png: declares 30000x30000 pixels"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_competition_is_refused_with_a_named_cause(tiny, case):
    breaker, message = BROKEN[case]
    breaker(tiny)
    with pytest.raises(CompetitionDataError, match=message):
        load_competition(tiny, min_class_rows=2)


def test_check_cli_prints_a_summary(fashion_copy):
    done = in_process(data_main, "check", fashion_copy)
    assert done.returncode == 0, done.stderr
    assert f"train        {SMALL_TRAIN} images" in done.stdout
    assert "28x28 grey" in done.stdout and "classes      10, labels integers" in done.stdout
    assert "cache        built" in done.stdout
    assert "cache        hit" in in_process(data_main, "check", fashion_copy).stdout
    assert "near copies  none" in done.stdout


def test_check_reports_near_copies_across_the_split(fashion_copy):
    """A test image that is a train image re-saved as a JPEG at quality 60 and made 8% brighter is a
    near copy, not identical pixels: check names it on its own line."""
    import io

    from PIL import ImageEnhance

    train_id = pd.read_csv(fashion_copy / "train.csv", dtype=str)["id"][5]
    test_id = pd.read_csv(fashion_copy / "test_sample.csv", dtype=str)["id"][2]
    data = io.BytesIO()
    ImageEnhance.Brightness(Image.open(fashion_copy / "images" / "train" / f"{train_id}.png")).enhance(1.08).save(
        data, "JPEG", quality=60)
    Image.open(data).save(fashion_copy / "images" / "test" / f"{test_id}.png")
    done = in_process(data_main, "check", fashion_copy)
    assert done.returncode == 0, done.stderr
    assert "identical    none" in done.stdout
    assert "near copies  1 test images are near copies of a train image" in done.stdout
    assert f"test {test_id} ~ train {train_id}" in done.stdout


def test_check_cli_exits_1_naming_the_broken_file(tiny):
    (tiny / "images" / "train" / "004.png").write_text("hello")
    done = in_process(data_main, "check", tiny)
    assert done.returncode == 1 and "004.png: not a PNG file" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("text,message", [
    ("class,name\n0,top\n0,trouser\n", r"classes.csv, lines 2 and 3: label '0' is listed twice"),
    ("class,name\n0,top\n1,top\n", r"classes.csv, lines 2 and 3: name 'top' is listed twice"),
    ("class,name\n0,top\n1,\n", r"classes.csv, line 3: blank name"),
    ("class\n0\n", r"classes.csv: expected two columns \(class,name\), got class"),
])
def test_class_names_refuse_duplicates_and_blanks(tmp_path, text, message):
    (tmp_path / "classes.csv").write_text(text)
    with pytest.raises(CompetitionDataError, match=message):
        class_names(tmp_path, [0, 1])


def test_check_cli_refuses_a_broken_classes_csv(fashion_copy):
    (fashion_copy / "classes.csv").write_text("class,name\n0,top\n1,top\n")
    done = in_process(data_main, "check", fashion_copy)
    assert done.returncode == 1 and done.stderr == (f"error: {fashion_copy}/classes.csv, lines 2 and 3: "
                                                    "name 'top' is listed twice\n")


@pytest.mark.parametrize("damage", ["labels of another length", "pixels truncated", "pixels of another shape"])
def test_a_tampered_cache_is_rebuilt_not_served(fashion_copy, damage):
    first = load_competition(fashion_copy)
    x_train, y_train = np.array(first.x_train), np.array(first.y_train)
    del first  # its pixels are mapped from the file about to be damaged
    cache = fashion_copy / FOLDER
    if damage == "labels of another length":
        np.save(cache / "y_train.npy", y_train[:-1])
    elif damage == "pixels truncated":
        data = (cache / "pixels.npy").read_bytes()
        (cache / "pixels.npy").write_bytes(data[: len(data) // 2])
    else:
        np.save(cache / "pixels.npy", np.zeros((3, 2, 2, 1), np.uint8))
    again = load_competition(fashion_copy)
    assert again.cache_status == "built"
    assert np.array_equal(again.x_train, x_train) and np.array_equal(again.y_train, y_train)


def kill_this_process(*args):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_decoding_worker_killed_mid_decode_is_one_clear_error(fashion_copy, monkeypatch):
    monkeypatch.setattr(images, "_MIN_FILES_PER_WORKER", 10)  # two workers for 400 images
    monkeypatch.setattr(images, "_decode_into", kill_this_process)  # a worker given this job is killed (-9)
    with pytest.raises(CompetitionDataError, match="images/train: a worker process decoding these images died"):
        load_competition(fashion_copy)
    assert not (fashion_copy / FOLDER).exists() and not list(fashion_copy.glob(".cache.building-*"))


def test_concurrent_checks_of_an_uncached_folder_all_succeed(fashion_copy):
    procs = [subprocess.Popen([sys.executable, "-m", "competition.data", "check", str(fashion_copy)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outputs]
    statuses = sorted(line.split()[1].rstrip(",")
                      for out, _ in outputs for line in out.splitlines() if line.startswith("cache"))
    assert statuses == ["built", "hit", "hit", "hit"]  # one built it, the others waited and reused it


def test_a_cache_folder_of_someone_else_is_left_untouched(tiny):
    (tiny / FOLDER).mkdir()
    (tiny / FOLDER / "theirs.txt").write_text("not ours")
    comp = load_competition(tiny, min_class_rows=2)
    assert comp.cache_status.startswith("off (") and "is not a cache of this toolkit" in comp.cache_status
    assert (tiny / FOLDER / "theirs.txt").read_text() == "not ours" and len(comp.train_ids) == 12


def test_a_cache_file_swapped_for_one_of_the_same_shape_is_noticed(fashion_copy):
    first = load_competition(fashion_copy)
    y_train = np.array(first.y_train)
    np.save(fashion_copy / FOLDER / "y_train.npy", np.roll(y_train, 1))  # same shape and classes, wrong rows
    again = load_competition(fashion_copy)
    assert again.cache_status == "built" and np.array_equal(again.y_train, y_train)


def test_a_cache_file_of_another_shape_is_noticed_even_with_its_old_size_and_time(fashion_copy):
    first = load_competition(fashion_copy)
    x_train = np.array(first.x_train)
    pixels = fashion_copy / FOLDER / "pixels.npy"
    before = pixels.stat()
    whole = np.load(pixels)
    del first
    pixels.unlink()  # a new file: the mapping of the old one stays valid
    np.save(pixels, whole.reshape(len(whole), -1, 1, 1))  # same bytes, another shape
    os.utime(pixels, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert pixels.stat().st_size == before.st_size
    again = load_competition(fashion_copy)
    assert again.cache_status == "built" and np.array_equal(again.x_train, x_train)


def test_class_names_for_labels_train_csv_lacks_are_named_in_a_warning(tmp_path):
    (tmp_path / "classes.csv").write_text("class,name\n42,Ghost\n0,zero\n")
    with pytest.warns(CompetitionDataWarning, match="classes.csv: names label\\(s\\) 42 that train.csv does not have"):
        assert class_names(tmp_path, [0, 1]) == ["zero", "1"]
