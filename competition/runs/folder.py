"""The run folder on disk: the one writer (``create``, ``save_fold``, ``save_refit``, then
``write_run`` finishing it) and the readers (``load_run``, ``list_runs``, ``verify``). The layout
is ``records``'; what a readable run holds, ``schema``'s.

Each file is written atomically, and in an order that makes an interrupted run resumable: the
config, folds and labels first; each fold's arrays, then its scores (their presence marks the fold
done); the refit likewise; ``scores.json`` last (a run with it is finished). A run folder that
cannot be read (a corrupt ``config.json``, a truncated array) raises ``RunError`` naming the file;
listing runs skips such a folder with a warning, so one broken run never blocks the others. A
corrupt fold file counts as not done: ``--resume`` computes that fold again.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np

from ..data import metrics
from ..errors import InputWarning
from ..fsutil import atomic_open, ensure_dir, save_npy_atomic, write_json_atomic
from . import schema, scoring
from .records import (
    CONFIG,
    FOLD_DIR,
    FOLDS,
    HISTORIES,
    LABELS,
    OOF,
    REFIT_ARRAYS,
    REFIT_SCORES,
    SCORES,
    TEST,
    UNREADABLE,
    FoldResult,
    RefitResult,
    Run,
    RunError,
    check_probabilities,
)


def create(runs_dir: str | Path, name: str, config: dict, folds: np.ndarray, labels: np.ndarray) -> Path:
    """A new run folder holding its config, folds and encoded labels: the writer's start, for
    cross-validation, tuning and ensembles alike (``save_fold`` and ``write_run`` complete it)."""
    run_dir = new_run_dir(runs_dir, name)
    save_npy_atomic(run_dir / FOLDS, folds)
    save_npy_atomic(run_dir / LABELS, labels)
    write_json_atomic(run_dir / CONFIG, config)
    return run_dir


def new_run_dir(runs_dir: str | Path, model: str) -> Path:
    """A new, empty ``runs_dir/<time>-<model>`` (a suffix keeps two runs of one second apart)."""
    runs_dir = ensure_dir(runs_dir, "runs folder")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in [""] + [f"-{i}" for i in range(2, 1000)]:
        path = runs_dir / f"{stamp}-{model}{suffix}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder in {runs_dir}")


def fold_paths(run_dir: Path, fold: int) -> tuple[Path, Path]:
    return run_dir / FOLD_DIR / f"fold-{fold}.npz", run_dir / FOLD_DIR / f"fold-{fold}.json"


def save_fold(run_dir: Path, result: FoldResult) -> None:
    """Write one fold's arrays, then its scores (whose presence marks the fold done)."""
    arrays, scores = fold_paths(run_dir, result.fold)
    arrays.parent.mkdir(exist_ok=True)
    with atomic_open(arrays) as f:
        np.savez(f, rows=result.rows, proba=result.proba, test_proba=result.test_proba)
    write_json_atomic(scores, {"scores": result.scores, "history": result.history})


def load_fold(run_dir: Path, fold: int) -> FoldResult | None:
    """A saved fold, or None when it is not done, or damaged (with a warning: it will be redone)."""
    arrays, scores = fold_paths(run_dir, fold)
    if not scores.is_file():
        return None
    try:
        saved = json.loads(scores.read_text())
        with np.load(arrays, allow_pickle=False) as data:
            result = FoldResult(fold, data["rows"], data["proba"], data["test_proba"], saved["scores"],
                                saved["history"])
        float(result.scores["accuracy"]), float(result.scores["log_loss"])
    except (*UNREADABLE, TypeError) as exc:
        warnings.warn(f"{run_dir}: fold {fold} is damaged ({type(exc).__name__}); it will be computed again",
                      InputWarning, stacklevel=2)
        return None
    return result


def fold_problem(result: FoldResult, held_out: np.ndarray, n_test: int, n_classes: int) -> str | None:
    """Why a saved fold does not fit its run (other rows, shapes, or values that are no
    probabilities), or None."""
    if not np.array_equal(result.rows, held_out):
        return "its rows are not the fold's held-out rows"
    if result.proba.shape != (len(held_out), n_classes) or result.test_proba.shape != (n_test, n_classes):
        return "its arrays have the wrong shapes"
    try:
        check_probabilities(result.proba, "fold")
        check_probabilities(result.test_proba, "fold")
    except RunError:
        return "its probabilities are not probabilities"
    return None


def save_refit(run_dir: Path, result: RefitResult) -> None:
    """Write the refit's test probabilities, then its scores (whose presence marks it done)."""
    save_npy_atomic(run_dir / REFIT_ARRAYS, result.test_proba)
    write_json_atomic(run_dir / REFIT_SCORES, result.scores)


def load_refit(run_dir: Path) -> RefitResult | None:
    """A saved refit, or None when it is not done or damaged (then it is computed again)."""
    if not (run_dir / REFIT_SCORES).is_file():
        return None
    try:
        scores = json.loads((run_dir / REFIT_SCORES).read_text())
        test_proba = np.load(run_dir / REFIT_ARRAYS, allow_pickle=False)
        check_probabilities(test_proba, run_dir / REFIT_ARRAYS)
    except (*UNREADABLE, RunError) as exc:
        warnings.warn(f"{run_dir}: the refit is damaged ({type(exc).__name__}); it will be computed again",
                      InputWarning, stacklevel=2)
        return None
    return RefitResult(test_proba, scores)


def copy_folds(source: Path, run_dir: Path, n_folds: int) -> int:
    """Copy ``source``'s readable folds into ``run_dir`` (a new run of the same folds); return how many."""
    copied = 0
    for fold in range(n_folds):
        saved = load_fold(source, fold)
        if saved is not None:
            save_fold(run_dir, saved)
            copied += 1
    return copied


def done_folds(run_dir: Path, n_folds: int) -> list[int]:
    return [k for k in range(n_folds) if fold_paths(run_dir, k)[1].is_file()]


def write_run(runs_dir: str | Path | None, name: str, config: dict, folds: np.ndarray, labels: np.ndarray,
              results: list[FoldResult], *, refit: RefitResult | None = None, metric: str = metrics.DEFAULT,
              run_dir: Path | None = None) -> Run:
    """The one way a run folder is finished, whoever computed it (cross-validation, a tuning trial
    held in memory, an ensemble): a new folder under ``runs_dir`` (or ``run_dir``, one ``create``
    began earlier, its folds saved as they came), every fold not saved yet, the refit, then the
    ``scoring.summarise`` of ``results`` (``labels``: every train row's encoded label) as
    ``oof.npy``, ``test.npy``, ``histories.json`` and finally ``scores.json``. Returns it read back."""
    if run_dir is None:
        run_dir = create(runs_dir, name, config, folds, labels)
    done = set(done_folds(run_dir, config["folds"]))
    for result in results:
        if result.fold not in done:
            save_fold(run_dir, result)
    if refit is not None and not (run_dir / REFIT_SCORES).is_file():
        save_refit(run_dir, refit)
    oof, test, scores = scoring.summarise(results, labels, len(config["data"]["classes"]), refit, metric)
    save_npy_atomic(run_dir / OOF, oof)
    save_npy_atomic(run_dir / TEST, test)
    write_json_atomic(run_dir / HISTORIES, {str(r.fold): r.history for r in results})
    write_json_atomic(run_dir / SCORES, scores)
    return load_run(run_dir)


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: not a JSON object")
    return data


def load_run(path: str | Path) -> Run:
    """The run folder ``path``; ``RunError`` if it is none, or damaged: a value any reader takes of
    the wrong type or out of range (``schema``)."""
    path = Path(path)
    config_path = path / CONFIG
    if not config_path.is_file():
        raise RunError(f"{path}: not a run folder (no {CONFIG})")
    config = read_json(config_path)
    problem = schema.config_problem(config)
    if problem:
        raise RunError(f"{config_path}: not a run's config ({problem})")
    scores = read_json(path / SCORES) if (path / SCORES).is_file() else None
    problem = scores and schema.scores_problem(scores)
    if problem:
        raise RunError(f"{path / SCORES}: not a run's scores ({problem})")
    return Run(path, config, scores, done_folds(path, config["folds"]))


def list_runs(runs_dir: str | Path = "runs") -> list[Run]:
    """Every readable run under ``runs_dir``, oldest first; damaged ones are skipped with a warning.
    Each call reads every run's config: a command lists once (``lookup``) and keeps the answer."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    found = []
    for folder in sorted(runs_dir.iterdir()):
        if (folder / CONFIG).is_file():
            try:
                found.append(load_run(folder))
            except RunError as exc:
                warnings.warn(f"skipped a damaged run: {exc}", InputWarning, stacklevel=2)
    return found


def verify(run: Run) -> Run:
    """``run`` if its saved scores are those of its arrays (the OOF accuracy recomputed), else a
    ``RunError``: a scores.json edited by hand must not become a submission's CV score."""
    accuracy = scoring.oof_accuracy(run.oof(), run.labels(), run.folds() >= 0)
    if abs(accuracy - run.scores["oof_accuracy"]) > 1e-9:
        raise RunError(f"{run.path / SCORES}: says OOF accuracy {run.scores['oof_accuracy']:.4f}, its arrays give "
                       f"{accuracy:.4f}; the run was changed after it finished")
    return run
