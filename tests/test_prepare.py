"""prepare: a competition folder built from the real Fashion-MNIST IDX files."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from competition.idx import find_idx, read_idx
from competition.prepare import IDX_FILES, main, prepare
from tests.conftest import SMALL_TEST, SMALL_TRAIN


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
    assert {p.name for p in tmp_path.iterdir()} == {"c", "c.grader"}  # no temporary folder left behind


def test_source_folder_with_plain_idx_files(tmp_path, fashion_source):
    source = tmp_path / "src"
    source.mkdir()
    for stem in IDX_FILES.values():
        with gzip.open(find_idx(fashion_source, stem)) as f:
            (source / stem).write_bytes(f.read())
    out = prepare(tmp_path / "c", source=source, limit_train=10, limit_test=5)
    assert len(pd.read_csv(out / "train.csv")) == 10
    assert not (out / "classes.csv").exists(), "another source's labels need not be clothes"
    named = prepare(tmp_path / "d", source=source, limit_train=10, limit_test=5, class_names=list("abcdefghij"))
    assert pd.read_csv(named / "classes.csv")["name"].tolist() == list("abcdefghij")


def test_read_idx_rejects_a_file_that_is_not_idx(tmp_path):
    bad = tmp_path / "x-idx1-ubyte"
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "y-idx1-ubyte"
    short.write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(5))
    with pytest.raises(ValueError, match="header says 10"):
        read_idx(short)
