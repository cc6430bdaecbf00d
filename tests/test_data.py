"""The loader: arrays equal to the source, a cache that notices changes, and clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from competition.cache import FOLDER
from competition.data import CompetitionDataError, CompetitionDataWarning, load_competition
from competition.idx import find_idx, read_idx
from competition.prepare import IDX_FILES
from tests.conftest import SMALL_TEST, SMALL_TRAIN, make_competition, write_png


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

    monkeypatch.setattr("competition.cache.tempfile.mkdtemp", refuse)  # as in a read-only folder (root ignores chmod)
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


BROKEN = {
    "no train.csv": (lambda r: (r / "train.csv").unlink(), r"train.csv: missing"),
    "no test_sample.csv": (lambda r: (r / "test_sample.csv").unlink(), r"test_sample.csv: missing"),
    "no image folder": (lambda r: os.rename(r / "images" / "test", r / "images" / "tst"), r"images/test: missing image folder"),
    "no id column": (lambda r: edit_csv(r / "train.csv", columns=["ident", "class"]), r"train.csv: no 'id' column"),
    "no label column": (lambda r: edit_csv(r / "train.csv", columns=["id", "label"]), r"train.csv: no 'class' column"),
    "sample with 3 columns": (lambda r: (r / "test_sample.csv").write_text("id,class,x\nt0,cat,1\n"),
                              r"test_sample.csv: expected an id column and one label column"),
    "duplicate train id": (lambda r: edit_csv(r / "train.csv", cells={(7, "id"): "002"}),
                           r"train.csv: duplicate id '002' on lines 4, 9"),
    "duplicate test id": (lambda r: edit_csv(r / "test_sample.csv", cells={(4, "id"): "t1"}),
                          r"test_sample.csv: duplicate id 't1' on lines 3, 6"),
    "empty label": (lambda r: edit_csv(r / "train.csv", cells={(3, "class"): ""}), r"train.csv, line 5: empty or NaN label"),
    "NaN label": (lambda r: edit_csv(r / "train.csv", cells={(6, "class"): "NaN"}), r"train.csv, line 8: empty or NaN label"),
    "id with slash": (lambda r: edit_csv(r / "train.csv", cells={(2, "id"): "a/b"}), r"train.csv, line 4: id 'a/b' cannot name"),
    "id without png": (lambda r: (r / "images" / "train" / "005.png").unlink(),
                       r"images/train/005.png: missing \(train.csv line 7 lists id '005'\)"),
    "test id without png": (lambda r: (r / "images" / "test" / "t3.png").unlink(),
                            r"images/test/t3.png: missing \(test_sample.csv line 5"),
    "png that does not decode": (lambda r: (r / "images" / "train" / "004.png").write_bytes(b"\x89PNG\r\n\x1a\nrubbish"),
                                 r"images/train/004.png: truncated PNG"),
    "not a png at all": (lambda r: (r / "images" / "train" / "004.png").write_text("hello"), r"004.png: not a PNG file"),
    "mixed size": (lambda r: write_png(r / "images" / "train" / "009.png", np.zeros((9, 8, 3), np.uint8)),
                   r"009.png: image is 8x9 RGB, but .*000.png is 8x8 RGB"),
    "mixed mode": (lambda r: write_png(r / "images" / "train" / "009.png", np.zeros((8, 8), np.uint8)),
                   r"009.png: image is 8x8 grey, but .*000.png is 8x8 RGB"),
    "test size differs": (lambda r: [write_png(r / "images" / "test" / f"t{i}.png", np.zeros((6, 6, 3), np.uint8))
                                     for i in range(5)], r"images/test/t0.png: image is 6x6 RGB, but .*000.png is 8x8 RGB"),
    "empty csv": (lambda r: (r / "train.csv").write_text(""), r"train.csv: empty file"),
    "no rows": (lambda r: (r / "train.csv").write_text("id,class\n"), r"train.csv: no rows"),
    "not utf-8": (lambda r: (r / "train.csv").write_bytes("id,class\n001,caf\xe9\n".encode("latin-1")), r"train.csv: not UTF-8"),
    "ragged csv": (lambda r: (r / "train.csv").write_text("id,class\n000,cat\n001,dog,extra,more\n"), r"train.csv: not a valid CSV"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_competition_is_refused_with_a_named_cause(tiny, case):
    breaker, message = BROKEN[case]
    breaker(tiny)
    with pytest.raises(CompetitionDataError, match=message):
        load_competition(tiny, min_class_rows=2)


def run_check(folder):
    return subprocess.run([sys.executable, "-m", "competition.data", "check", str(folder)],
                          capture_output=True, text=True, timeout=120)


def test_check_cli_prints_a_summary(fashion_copy):
    done = run_check(fashion_copy)
    assert done.returncode == 0, done.stderr
    assert f"train        {SMALL_TRAIN} images" in done.stdout
    assert "28x28 grey" in done.stdout and "classes      10, labels integers" in done.stdout
    assert "cache        built" in done.stdout
    assert "cache        hit" in run_check(fashion_copy).stdout


def test_check_cli_exits_1_naming_the_broken_file(tiny):
    (tiny / "images" / "train" / "004.png").write_text("hello")
    done = run_check(tiny)
    assert done.returncode == 1 and "004.png: not a PNG file" in done.stderr and "Traceback" not in done.stderr
