"""Adversarial validation on real images: AUC near 0.5 when train and test are both real Fashion-MNIST
slices, near 1 when the test images are brightened; its CSV, picture and page; bad input refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from competition import shift
from competition.data.images import PNG_SIGNATURE
from competition.data.loader import load_competition
from tests.helpers import SMALL_TEST, SMALL_TRAIN, check_provenance, make_competition, run_cli, in_process

BRIGHTER = 60  # added to every pixel of the shifted copy's test images (clipped at 255)
# Enough rounds to find a brightness shift in a few hundred images; one thread, as LightGBM's threads
# crawl on a busy machine (20 s against 1 s here, the same probabilities).
QUICK = ["--param", "n_estimators=30", "--param", "n_jobs=1"]


def brighten(path: Path) -> None:
    pixels = np.asarray(Image.open(path)).astype(np.int16)
    Image.fromarray(np.clip(pixels + BRIGHTER, 0, 255).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def shifted(tmp_path_factory, fashion_small) -> tuple[Path, list[str]]:
    """A fresh copy of the real slice (no cache: the loader must decode the new pixels) whose test
    PNGs, and a handful of training PNGs, are brightened and saved again; the CSVs are untouched.
    Returns the folder and the ids of the brightened training images."""
    root = tmp_path_factory.mktemp("shifted") / "fashion-shifted"
    shutil.copytree(fashion_small, root, ignore=shutil.ignore_patterns(".cache*"))
    for png in (root / "images" / "test").glob("*.png"):
        brighten(png)
    bright_train = pd.read_csv(root / "train.csv", dtype=str)["id"].tolist()[::34][:8]
    for image_id in bright_train:
        brighten(root / "images" / "train" / f"{image_id}.png")
    return root, bright_train


@pytest.fixture(scope="module")
def shifted_run(shifted, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """The command run once on the shifted copy, into ``--out``."""
    cwd = tmp_path_factory.mktemp("shift-cwd")
    out = cwd / "adversarial"
    done = run_cli("competition.shift", "--data", str(shifted[0]), *QUICK, "--out", str(out), cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done, out


def test_real_train_and_test_slices_look_alike(fashion_small):
    comp = load_competition(fashion_small)
    model = shift.shift_model("lgbm", {"n_jobs": 1})  # the default recipe, on one thread
    result = shift.adversarial_validate(model, comp.x_train, comp.x_test, n_folds=5, seed=87)
    assert result.p_test.shape == (SMALL_TRAIN + SMALL_TEST,) and not np.isnan(result.p_test).any()
    assert result.is_test.sum() == SMALL_TEST and not result.is_test[:SMALL_TRAIN].any()
    assert len(result.fold_auc) == 5
    assert 0.35 < result.auc_mean < 0.65 and 0.35 < result.auc < 0.65, (result.fold_auc, result.auc)
    assert "look alike" in shift.verdict(result.auc_mean)


def test_brightened_test_images_are_told_apart(shifted, shifted_run):
    done, out = shifted_run
    saved = json.loads((out / shift.JSON).read_text())
    check_provenance(saved)
    assert saved["command"][-2:] == ["--out", str(out)]
    assert saved["auc_mean"] > 0.95 and saved["auc_pooled"] > 0.95 and len(saved["fold_auc"]) == 5
    assert f"ROC AUC {saved['auc_mean']:.4f} +- {saved['auc_std']:.4f}" in done.stdout
    assert "verdict: strong shift" in done.stdout and str(out / shift.CSV) in done.stdout
    assert saved["params"]["n_estimators"] == 30 and saved["overrides"] == {"n_estimators": 30, "n_jobs": 1}
    assert saved["data"]["fingerprint"] == load_competition(shifted[0]).fingerprint
    assert saved["rows"] == {"train": SMALL_TRAIN, "test": SMALL_TEST}
    assert sorted(p.name for p in out.iterdir()) == sorted([shift.CSV, shift.JSON, shift.PICTURE, shift.REPORT])


def test_the_csv_holds_training_rows_most_test_like_first(shifted, shifted_run):
    root, bright_train = shifted
    _, out = shifted_run
    table = pd.read_csv(out / shift.CSV, dtype={"id": str})
    train = pd.read_csv(root / "train.csv", dtype={"id": str})
    assert list(table.columns) == ["id", "class", "row", "p_test"]
    assert len(table) == SMALL_TRAIN // 5, "one fold's share of the training rows by default"
    assert (table["id"] == train["id"][table["row"]].to_numpy()).all(), "training rows, as train.csv has them"
    assert (table["class"] == train["class"][table["row"]].to_numpy()).all()
    assert (np.diff(table["p_test"]) <= 0).all() and table["p_test"].between(0, 1).all()
    # the training images brightened like the test set are the ones the classifier takes for test images
    assert set(table["id"][: len(bright_train)]) == set(bright_train)
    assert table["p_test"][: len(bright_train)].min() > 0.5
    assert table["p_test"][len(bright_train) :].median() < 0.2


def test_the_picture_and_the_page(shifted_run):
    _, out = shifted_run
    png = out / shift.PICTURE
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(png) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("RGB")).astype(int)
    assert 600 < width < 2500 and 300 < height < 1500, image.size
    assert (pixels.max(axis=2) == pixels.min(axis=2)).all(), "grey images are drawn grey (text is black on white)"
    assert (pixels < 30).mean() > 0.05, "the images are there: Fashion-MNIST's black backgrounds"
    saved = json.loads((out / shift.JSON).read_text())
    page = (out / shift.REPORT).read_text()
    assert page.startswith("# Shift: fashion-shifted")
    assert f"ROC AUC {saved['auc_mean']:.3f}" in page and f"]({shift.PICTURE})" in page and shift.CSV in page


def test_a_limit_samples_both_sides_and_leaves_the_rest_out(fashion_small):
    comp = load_competition(fashion_small)
    model = shift.shift_model("logreg", {"max_iter": 50})
    result = shift.adversarial_validate(model, comp.x_train, comp.x_test, n_folds=3, seed=5, limit=200)
    assert (result.folds >= 0).sum() == 200 and (result.used(False), result.used(True)) == (150, 50)
    assert np.isnan(result.p_test[result.folds < 0]).all() and not np.isnan(result.p_test[result.folds >= 0]).any()
    table = shift.most_test_like(comp, result.p_train_rows, top=1000)
    assert len(table) == 150 and not table["p_test"].isna().any()


def test_rgb_images_of_any_size_and_string_labels(tmp_path):
    labels = {f"r{i:02d}": ["cat", "dog"][i % 2] for i in range(30)}
    root, _ = make_competition(tmp_path / "rgb", labels, [f"t{i}" for i in range(12)], shape=(12, 20, 3))
    done = in_process(shift.main, "--data", str(root), "--model", "logreg", "--param", "max_iter=50", "--folds",
                    "3", "--top", "5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (out,) = (tmp_path / "runs").iterdir()
    assert out.name.endswith("-shift") and f"report: runs/{out.name}/{shift.REPORT}" in done.stdout
    table = pd.read_csv(out / shift.CSV, dtype=str)
    assert len(table) == 5 and set(table["class"]) <= {"cat", "dog"} and set(table["id"]) <= set(labels)
    with Image.open(out / shift.PICTURE) as image:
        assert image.format == "PNG" and min(image.size) > 200
        pixels = np.asarray(image.convert("RGB")).astype(int)
    assert (pixels.max(axis=2) - pixels.min(axis=2) > 40).mean() > 0.05, "colour images are drawn in colour"


@pytest.mark.parametrize("args,message", [
    (["--model", "nope"], "argument --model: invalid choice: 'nope'"),
    (["--param", "depth=3"], "unknown parameter 'depth' for this model; valid: "),
    (["--param", "n_estimators=0"], "'n_estimators' parameter of LGBMClassifier must be an int in the range [1, inf)"),
    (["--folds", "1"], "argument --folds: must be at least 2, got 1"),
    (["--limit", "1"], "argument --limit: must be at least 2, got 1"),
    (["--limit", "7"], "cannot split a sample of 7 of 400 images into 5 stratified folds: it holds 5 train and 2 test "
                       "images, and each side needs at least 5 (one per fold)"),
    (["--top", "0"], "argument --top: must be at least 1, got 0"),
    (["--out", "a", "--runs-dir", "b"], "argument --runs-dir: not allowed with argument --out"),
])
def test_bad_options_are_refused_in_one_line(fashion_small, tmp_path, args, message):
    done = in_process(shift.main, "--data", str(fashion_small), *args, cwd=tmp_path)
    assert done.returncode == 1 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not list(tmp_path.glob("runs/*")) and not (tmp_path / "a").exists()


def test_a_missing_folder_or_a_used_out_is_refused_and_left_alone(fashion_small, tmp_path):
    done = in_process(shift.main, "--data", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert done.returncode == 1 and done.stderr == f"error: {tmp_path / 'nowhere'}: no such competition folder\n"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    (tmp_path / "file").write_text("keep me too")
    for option, out, why in (("--out", "mine", "--out mine: exists and is not empty"),
                             ("--out", "file", "--out file: is a file"),
                             ("--runs-dir", "file", "runs folder file: is a file, not a folder")):
        done = in_process(shift.main, "--data", str(fashion_small), option, out, cwd=tmp_path)
        assert done.returncode == 1 and done.stderr.startswith(f"error: {why}"), done.stderr
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
    assert (tmp_path / "file").read_text() == "keep me too" and not (tmp_path / "runs").exists()


def test_an_empty_out_is_used_and_a_failed_write_leaves_nothing(fashion_small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    base = ["--data", str(fashion_small), "--model", "logreg", "--param", "max_iter=30", "--folds", "3"]
    assert shift.main([*base, "--out", "empty"]) == 0
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == sorted([shift.CSV, shift.JSON, shift.PICTURE,
                                                                           shift.REPORT])

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", "extremes.png")

    monkeypatch.setattr(shift, "extremes_figure", disk_full)
    assert shift.main([*base, "--runs-dir", "runs"]) == 1
    assert shift.main([*base, "--out", "later"]) == 1
    assert list((tmp_path / "runs").iterdir()) == [] and not (tmp_path / "later").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "runs"], "no work folder left behind"
