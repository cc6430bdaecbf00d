"""prepare: a competition folder built from the real Fashion-MNIST IDX files."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from competition.fsutil import _in_use, sweep_stale
from competition.prepare.idx import IdxError, find_idx, read_idx
from competition.prepare.__main__ import main
from competition.prepare.fashion import IDX_FILES, prepare
from tests.helpers import SMALL_TEST, SMALL_TRAIN, default_ctrl_c, in_process


def test_layout_and_csvs(fashion_small):
    train = pd.read_csv(fashion_small / "train.csv", dtype=str)
    sample = pd.read_csv(fashion_small / "test_sample.csv", dtype=str)
    assert list(train.columns) == ["id", "class"] and list(sample.columns) == ["id", "class"]
    assert len(train) == SMALL_TRAIN and len(sample) == SMALL_TEST
    assert sample["class"].nunique() == 1  # a placeholder, not the answers
    assert sorted(os.listdir(fashion_small / "images" / "train")) == sorted(i + ".png" for i in train["id"])
    assert sorted(os.listdir(fashion_small / "images" / "test")) == sorted(i + ".png" for i in sample["id"])
    assert not (fashion_small / "solution.csv").exists(), "the answer key must stay outside the competitor's folder"
    assert pd.read_csv(fashion_small / "classes.csv")["name"].tolist()[:2] == ["T-shirt/top", "Trouser"]


def test_pixels_and_labels_equal_the_idx_source(fashion_small, fashion_source):
    x_train = read_idx(find_idx(fashion_source, IDX_FILES["x_train"]))
    y_train = read_idx(find_idx(fashion_source, IDX_FILES["y_train"]))
    train = pd.read_csv(fashion_small / "train.csv")
    for row in (0, 17, SMALL_TRAIN - 1):
        image = np.asarray(Image.open(fashion_small / "images" / "train" / f"{train['id'][row]}.png"))
        assert image.dtype == np.uint8 and np.array_equal(image, x_train[row])
        assert train["class"][row] == y_train[row]


def test_test_ids_are_shuffled_and_the_key_matches_them(fashion_small, fashion_source):
    x_test = read_idx(find_idx(fashion_source, IDX_FILES["x_test"]))[:SMALL_TEST]
    y_test = read_idx(find_idx(fashion_source, IDX_FILES["y_test"]))[:SMALL_TEST]
    solution = pd.read_csv(fashion_small.with_name(fashion_small.name + ".grader") / "solution.csv", dtype={"id": str})
    sample = pd.read_csv(fashion_small / "test_sample.csv", dtype={"id": str})
    assert list(solution.columns) == ["id", "class", "Usage"]
    assert list(solution["id"]) == list(sample["id"])
    assert set(solution["Usage"]) == {"Public", "Private"}
    assert (solution["Usage"] == "Public").sum() == round(0.3 * SMALL_TEST)
    # every test image's label in the key is its IDX label, found through its pixels
    index_of = {x_test[j].tobytes(): j for j in range(SMALL_TEST)}
    order = []
    for image_id, label in zip(solution["id"], solution["class"]):
        image = np.asarray(Image.open(fashion_small / "images" / "test" / f"{image_id}.png"))
        order.append(index_of[image.tobytes()])
        assert y_test[order[-1]] == label
    assert sorted(order) == list(range(SMALL_TEST)) and order != sorted(order), "sample order must not be IDX order"


def test_second_run_is_harmless(fashion_small, capsys):
    before = (fashion_small / "train.csv").stat().st_mtime_ns
    prepare(fashion_small, limit_train=SMALL_TRAIN, limit_test=SMALL_TEST, seed=3)
    assert "already prepared" in capsys.readouterr().out
    assert (fashion_small / "train.csv").stat().st_mtime_ns == before


def test_rebuild_with_other_settings_replaces_the_folder(tmp_path, fashion_source):
    out = tmp_path / "c"
    prepare(out, limit_train=20, limit_test=10, seed=1)
    main(["--out", str(out), "--limit-train", "30", "--limit-test", "10", "--seed", "1"])
    assert len(pd.read_csv(out / "train.csv")) == 30
    assert len(os.listdir(out / "images" / "train")) == 30
    # no temporary folder left behind; the lock file that serialises prepares of c stays
    assert {p.name for p in tmp_path.iterdir()} == {"c", "c.grader", ".c.prepare.lock"}


def test_source_folder_with_plain_idx_files(tmp_path, fashion_source):
    source = tmp_path / "src"
    source.mkdir()
    for stem in IDX_FILES.values():
        with gzip.open(find_idx(fashion_source, stem)) as f:
            (source / stem).write_bytes(f.read())
    out = prepare(tmp_path / "c", source=source, limit_train=20, limit_test=10)
    assert len(pd.read_csv(out / "train.csv")) == 20
    assert not (out / "classes.csv").exists(), "another source's labels need not be clothes"
    named = prepare(tmp_path / "d", source=source, limit_train=20, limit_test=10, class_names=list("abcdefghij"))
    assert pd.read_csv(named / "classes.csv")["name"].tolist() == list("abcdefghij")


def test_read_idx_rejects_a_file_that_is_not_idx(tmp_path):
    bad = tmp_path / "x-idx1-ubyte"
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(IdxError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "y-idx1-ubyte"
    short.write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(5))
    with pytest.raises(IdxError, match="header says 10"):
        read_idx(short)


def test_an_existing_folder_or_file_not_built_by_prepare_is_never_replaced(tmp_path, fashion_source):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own work")
    done = in_process(main, "--out", mine, "--limit-train", 20, "--limit-test", 10, cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert f"{mine}: exists and was not built by competition.prepare" in done.stderr
    assert (mine / "notes.txt").read_text() == "my own work" and not (tmp_path / "mine.grader").exists()

    a_file = tmp_path / "data.bin"
    a_file.write_bytes(b"precious")
    done = in_process(main, "--out", a_file, "--limit-train", 20, "--limit-test", 10, cwd=tmp_path)
    assert done.returncode == 1 and "exists and is not a folder" in done.stderr
    assert a_file.read_bytes() == b"precious"

    key_folder = tmp_path / "c.grader"  # the answer key's place holds the user's files
    key_folder.mkdir()
    (key_folder / "keep.csv").write_text("x\n")
    done = in_process(main, "--out", tmp_path / "c", "--limit-train", 20, "--limit-test", 10,
                    cwd=tmp_path)
    assert done.returncode == 1 and f"{key_folder}: exists and was not built" in done.stderr
    assert (key_folder / "keep.csv").read_text() == "x\n" and not (tmp_path / "c").exists()


def test_a_folder_built_by_prepare_is_replaced_and_an_empty_one_is_used(tmp_path, fashion_source):
    (tmp_path / "c").mkdir()
    prepare(tmp_path / "c", limit_train=20, limit_test=10)
    assert (tmp_path / "c" / ".prepare.json").is_file()
    prepare(tmp_path / "c", limit_train=24, limit_test=10)
    assert len(pd.read_csv(tmp_path / "c" / "train.csv")) == 24


def signal_mid_build(tmp_path, sig: int) -> subprocess.Popen:
    """``prepare --out tmp_path/c`` of the whole training set (seconds of PNG writing: long enough to
    hit it in the middle), sent ``sig`` once its first PNGs are written."""
    proc = subprocess.Popen([sys.executable, "-m", "competition.prepare", "--out", str(tmp_path / "c"),
                             "--limit-test", "10"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=default_ctrl_c)
    deadline = time.monotonic() + 60
    while not first_png_written(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    return proc


def first_png_written(tmp_path) -> bool:
    """Whether the build folder's train images have begun: one directory entry read, not a listing
    of thousands (which, on busy cores, could outlast the whole build and miss it)."""
    for train in tmp_path.glob(".c.building-*/c/images/train"):
        try:
            with os.scandir(train) as entries:
                return next(entries, None) is not None
        except FileNotFoundError:  # the build ended and was renamed meanwhile
            return False
    return False


def test_kill_9_mid_build_leaves_work_that_the_next_run_sweeps(tmp_path, fashion_source):
    proc = signal_mid_build(tmp_path, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 60
    (left,) = tmp_path.glob(".c.building-*")
    assert not (tmp_path / "c").exists(), "nothing half-built in the final place"
    assert sweep_stale(tmp_path, "other") == [] and left.exists()
    while _in_use(left, proc.pid) and time.monotonic() < deadline:  # its PNG workers finish their chunk first
        time.sleep(0.1)
    prepare(tmp_path / "c", limit_train=20, limit_test=10)
    assert not left.exists() and not list(tmp_path.glob(".c.*-*")), "the dead build's folder was swept"
    assert len(pd.read_csv(tmp_path / "c" / "train.csv")) == 20


def copy_source(fashion_source, target, change=None):
    """The four IDX files, plain; ``change`` maps a stem to the bytes to write instead."""
    target.mkdir()
    for stem in IDX_FILES.values():
        with gzip.open(find_idx(fashion_source, stem)) as f:
            (target / stem).write_bytes((change or {}).get(stem) or f.read())
    return target


def test_label_and_image_files_of_different_lengths_are_refused(tmp_path, fashion_source):
    labels = read_idx(find_idx(fashion_source, IDX_FILES["y_train"]))[:59000]
    short = bytes([0, 0, 8, 1]) + len(labels).to_bytes(4, "big") + labels.tobytes()
    source = copy_source(fashion_source, tmp_path / "src", {IDX_FILES["y_train"]: short})
    done = in_process(main, "--source", source, "--out", tmp_path / "c", "--limit-train", 10,
                    cwd=tmp_path)
    assert done.returncode == 1 and "60,000 train images but 59,000 train labels" in done.stderr
    assert not (tmp_path / "c").exists()


def test_corrupt_and_truncated_idx_files_are_named(tmp_path, fashion_source):
    gz = tmp_path / "x-idx3-ubyte.gz"
    gz.write_bytes(find_idx(fashion_source, IDX_FILES["y_test"]).read_bytes()[:200])
    with pytest.raises(IdxError, match=f"{gz}: corrupt or truncated gzip"):
        read_idx(gz)
    gz.write_bytes(b"\x1f\x8b not gzip at all")
    with pytest.raises(IdxError, match="corrupt or truncated gzip"):
        read_idx(gz)
    source = tmp_path / "src"
    source.mkdir()
    (source / (IDX_FILES["x_train"] + ".gz")).write_bytes(b"\x1f\x8b\x08\x00broken")
    done = in_process(main, "--source", source, "--out", tmp_path / "c", cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr


@pytest.mark.parametrize("args,message", [
    (["--limit-train", "-59000"], "argument --limit-train: must be at least 1, got -59000"),
    (["--limit-test", "0"], "argument --limit-test: must be at least 1, got 0"),
    (["--seed", "-1"], "argument --seed: must be from 0 to 4294967295, got -1"),
    (["--class-names", "a,b,c"], "--class-names: 3 names, but the labels are 10 classes (0..9)"),
    (["--class-names", "a,b,c,d,e,f,g,h,i,a"], "--class-names: 'a' is given twice"),
    (["--class-names", "a,b,,d,e,f,g,h,i,j"], "--class-names: name 3 is blank"),
    (["--limit-test", "2", "--public", "0.1"],
     "2 test rows give 0 Public and 2 Private rows; the answer key needs both"),
])
def test_impossible_settings_are_refused_in_one_line(tmp_path, fashion_source, args, message):
    done = in_process(main, "--out", tmp_path / "c", "--limit-train", 10, *args, cwd=tmp_path)
    assert done.returncode == 1 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "c").exists()


def test_a_key_the_metric_cannot_score_is_refused_before_anything_is_written(tmp_path, fashion_source):
    """30 test rows, 9 of them Public: some class has no Public row, and ROC AUC is undefined there.
    serve and grade would refuse the key; prepare refuses to write it."""
    done = in_process(main, "--out", tmp_path / "c", "--limit-train", 500, "--limit-test", 30, "--metric",
                    "roc_auc_ovr", cwd=tmp_path)
    last = done.stderr.splitlines()[-1]
    assert done.returncode == 1 and last.startswith("error: the competition would not be gradable: "), done.stderr
    assert (f"{tmp_path / 'c.grader' / 'solution.csv'}: "
            "metric roc_auc_ovr cannot score its Public or Private rows") in last
    assert not (tmp_path / "c").exists() and not (tmp_path / "c.grader").exists()


def test_a_build_holding_files_someone_added_is_not_rebuilt_over_them(tmp_path, fashion_source):
    out = prepare(tmp_path / "c", limit_train=20, limit_test=10)
    (out / "NOTES.txt").write_text("mine")
    (out.with_name("c.grader") / "fixes.txt").write_text("mine too")
    done = in_process(main, "--out", out, "--limit-train", 24, "--limit-test", 10, cwd=tmp_path)
    assert done.returncode == 1 and "NOTES.txt: not written by competition.prepare, and rebuilding" in done.stderr
    assert "(2 such files)" in done.stderr and (out / "NOTES.txt").read_text() == "mine"


def test_a_picture_copied_in_under_a_name_like_ours_is_never_removed(tmp_path, fashion_source):
    """Only the files the build's marker lists as written are ours: ``99999.png`` looks like one of
    ours and is the user's; a rebuild with other settings refuses in one line and removes nothing."""
    out = prepare(tmp_path / "c", limit_train=20, limit_test=10)
    mine = out / "images" / "train" / "99999.png"
    mine.write_bytes((out / "images" / "train" / "3.png").read_bytes())
    before = sorted(p.name for p in (out / "images" / "train").iterdir())
    done = in_process(main, "--out", out, "--limit-train", 24, "--limit-test", 10, cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert f"{mine}: not written by competition.prepare" in done.stderr
    assert mine.is_file() and sorted(p.name for p in (out / "images" / "train").iterdir()) == before
    mine.unlink()  # moved out: the rebuild goes ahead
    assert in_process(main, "--out", out, "--limit-train", 24, "--limit-test", 10,
                    cwd=tmp_path).returncode == 0
    assert len(list((out / "images" / "train").iterdir())) == 24


def test_the_current_folder_is_refused_and_a_damaged_build_is_rebuilt(tmp_path, fashion_source):
    done = in_process(main, "--out", ".", cwd=tmp_path)
    assert done.returncode == 1 and "is the current folder or holds it" in done.stderr
    out = prepare(tmp_path / "c", limit_train=20, limit_test=10)
    (out / "train.csv").write_text("garbage\n")
    prepare(out, limit_train=20, limit_test=10)  # same settings, but no longer what was built: rebuilt
    assert len(pd.read_csv(out / "train.csv")) == 20


def test_ctrl_c_mid_build_stops_promptly_and_leaves_nothing(tmp_path, fashion_source):
    assert signal_mid_build(tmp_path, signal.SIGINT).wait(timeout=30) == 130
    assert not list(tmp_path.glob(".c.building-*")) and not (tmp_path / "c").exists()
