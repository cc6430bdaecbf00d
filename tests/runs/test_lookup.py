"""The one writer (``runs.write_run``) and the one look-up (``runs.lookup``), in memory-sized run
folders made without training: what a look-up answers, and that it lists the folder once."""

from __future__ import annotations

import numpy as np
import pytest

from competition import runs
from competition.runs import folder, scoring

FOLDS = np.array([0, 1, 0, 1, 0, 1, -1])  # the last row left out, as --limit does
LABELS = np.array([0, 1, 1, 0, 0, 1, 1])


def config(**changes) -> dict:
    data = {"fingerprint": "f" * 64, "train_rows": 7, "test_rows": 2, "classes": ["a", "b"]}
    return {"model": "dt", "params": {"max_depth": 2}, "folds": 2, "seed": 87, "seeds": 1, "refit": False,
            "limit": 6, "keras_backend": None, "data": data, **changes}


def fold_results(confidence: float = 0.8) -> list[runs.FoldResult]:
    """Each fold's held-out rows predicted right with ``confidence``."""
    results = []
    for fold in (0, 1):
        rows = np.flatnonzero(FOLDS == fold)
        proba = np.where(np.eye(2)[LABELS[rows]] == 1, confidence, 1 - confidence)
        results.append(runs.FoldResult(fold, rows, proba, np.full((2, 2), 0.5),
                                       scoring.score_fold(fold, LABELS[rows], proba, train_rows=3)))
    return results


def test_write_run_writes_a_finished_run_with_its_fold_files(tmp_path):
    run = runs.write_run(tmp_path, "dt", config(), FOLDS, LABELS, fold_results(), metric="log_loss")
    assert run.finished and run.done_folds == [0, 1] and run.name.endswith("-dt")
    assert run.scores["oof_accuracy"] == 1.0 and run.scores["oof_rows"] == 6 and run.scores["metric"] == "log_loss"
    assert np.isnan(run.oof()[-1]).all() and np.allclose(run.oof()[:-1].max(axis=1), 0.8)
    assert runs.load_fold(run.path, 1).rows.tolist() == [1, 3, 5]
    runs.verify(run)
    with pytest.raises(ValueError):
        run.oof()[0, 0] = 1  # read once, kept read-only: no reader changes what the next one sees


def test_write_run_finishes_a_folder_begun_earlier_without_rewriting_its_folds(tmp_path):
    begun = runs.create(tmp_path, "dt", config(), FOLDS, LABELS)
    first, second = fold_results()
    runs.save_fold(begun, first)
    saved = folder.fold_paths(begun, 0)[0].stat().st_mtime_ns
    run = runs.write_run(None, "dt", config(), FOLDS, LABELS, [first, second], run_dir=begun)
    assert run.path == begun and run.done_folds == [0, 1] and len(runs.list_runs(tmp_path)) == 1
    assert folder.fold_paths(begun, 0)[0].stat().st_mtime_ns == saved


def test_lookup_answers_finished_interrupted_and_twin_from_one_listing(tmp_path, monkeypatch):
    older = runs.write_run(tmp_path, "dt", config(), FOLDS, LABELS, fold_results(0.7))
    newer = runs.write_run(tmp_path, "dt", config(), FOLDS, LABELS, fold_results(0.9))
    refit = runs.write_run(tmp_path, "dt", config(refit=True), FOLDS, LABELS, fold_results())
    runs.write_run(tmp_path, "dt", config(params={"max_depth": 3}), FOLDS, LABELS, fold_results())  # another recipe
    interrupted = runs.create(tmp_path, "dt", config(), FOLDS, LABELS)
    runs.save_fold(interrupted, fold_results()[0])
    listed = []
    real = folder.list_runs
    monkeypatch.setattr(folder, "list_runs", lambda *a: listed.append(a) or real(*a))

    found = runs.lookup(tmp_path, config(), FOLDS)
    assert len(listed) == 1
    assert [run.path for run in found.matches] == [older.path, newer.path] and found.finished.path == newer.path
    assert found.interrupted.path == interrupted and found.interrupted.done_folds == [0]
    assert found.twin.path == refit.path  # the same folds, differing only in refit
    assert runs.lookup(tmp_path, config(refit=True), FOLDS).twin.path == newer.path
    assert runs.lookup(tmp_path, config(refit=True), FOLDS[::-1].copy()).twin is None  # other folds: no twin
    assert runs.lookup(tmp_path, config(refit=True)).twin is None  # no folds given: no twin asked for
    assert runs.lookup(tmp_path, config(seed=1), FOLDS).finished is None
    assert runs.lookup(tmp_path / "none", config(), FOLDS) == runs.Found()
