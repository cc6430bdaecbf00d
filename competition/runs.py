"""Run folders: what a cross-validation run leaves on disk, and how to read it back.

    runs/<YYYYmmdd-HHMMSS>-<model>/
      config.json       model, params, folds, seed, limit, data fingerprint, git commit, versions, host
      folds.npy         fold of every train.csv row (-1: left out by --limit)
      labels.npy        every train.csv row's label as a column index of the probabilities
      folds/fold-K.npz  held-out rows, their probabilities, test probabilities   (written per fold)
      folds/fold-K.json that fold's scores and training history                   (marks it done)
      oof.npy           (train rows, classes) out-of-fold probabilities (NaN rows: left out)
      test.npy          (test rows in sample order, classes), averaged over the fold models
      scores.json       per fold and overall; written last: a run with it is finished
      histories.json    per-fold training curves (Keras epochs, boosting rounds)

    python -m competition.runs [--runs-dir runs]     lists runs with their CV scores
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import log_loss

from .fsutil import atomic_open, save_npy_atomic, write_json_atomic

CONFIG, FOLDS, LABELS, OOF, TEST, SCORES, HISTORIES = (
    "config.json", "folds.npy", "labels.npy", "oof.npy", "test.npy", "scores.json", "histories.json")


@dataclass
class FoldResult:
    fold: int
    rows: np.ndarray  # held-out train rows
    proba: np.ndarray  # (len(rows), n_classes)
    test_proba: np.ndarray  # (n_test, n_classes)
    scores: dict  # accuracy, log_loss, rows, fit_seconds, predict_seconds, best_iteration
    history: dict | None = None


@dataclass
class Run:
    path: Path
    config: dict
    scores: dict | None  # None while unfinished
    done_folds: list[int]

    @property
    def finished(self) -> bool:
        return self.scores is not None

    @property
    def name(self) -> str:
        return self.path.name

    def oof(self) -> np.ndarray:
        return np.load(self.path / OOF)

    def test(self) -> np.ndarray:
        return np.load(self.path / TEST)

    def folds(self) -> np.ndarray:
        return np.load(self.path / FOLDS)

    def labels(self) -> np.ndarray:
        """Encoded true labels of the train rows (column indices into ``oof()``)."""
        return np.load(self.path / LABELS)

    @property
    def classes(self) -> list:
        return self.config["data"]["classes"]


def new_run_dir(runs_dir: str | Path, model: str) -> Path:
    """A new, empty ``runs_dir/<time>-<model>`` (a suffix keeps two runs of one second apart)."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in [""] + [f"-{i}" for i in range(2, 1000)]:
        path = runs_dir / f"{stamp}-{model}{suffix}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder in {runs_dir}")


def clipped_log_loss(y: np.ndarray, proba: np.ndarray, eps: float = 1e-15) -> float:
    """Log loss of encoded labels ``y``, with probabilities kept off 0 (and rows renormalised):
    one confident miss must not make it infinite."""
    proba = np.clip(proba, eps, 1)
    return float(log_loss(y, proba / proba.sum(axis=1, keepdims=True), labels=np.arange(proba.shape[1])))


def score_fold(fold: int, y: np.ndarray, proba: np.ndarray, *, train_rows: int, fit_seconds: float = 0.0,
               predict_seconds: float = 0.0, best_iteration: int | None = None) -> dict:
    """One fold's scores: ``y`` are encoded labels, ``proba`` the held-out rows' probabilities."""
    return {
        "fold": fold,
        "accuracy": float(np.mean(np.argmax(proba, axis=1) == y)),
        "log_loss": clipped_log_loss(y, proba),
        "rows": int(len(y)),
        "train_rows": int(train_rows),
        "fit_seconds": round(fit_seconds, 3),
        "predict_seconds": round(predict_seconds, 3),
        "best_iteration": best_iteration,
    }


def fold_paths(run_dir: Path, fold: int) -> tuple[Path, Path]:
    return run_dir / "folds" / f"fold-{fold}.npz", run_dir / "folds" / f"fold-{fold}.json"


def save_fold(run_dir: Path, result: FoldResult) -> None:
    """Write one fold's arrays, then its scores (whose presence marks the fold done)."""
    arrays, scores = fold_paths(run_dir, result.fold)
    arrays.parent.mkdir(exist_ok=True)
    with atomic_open(arrays) as f:
        np.savez(f, rows=result.rows, proba=result.proba, test_proba=result.test_proba)
    write_json_atomic(scores, {"scores": result.scores, "history": result.history})


def load_fold(run_dir: Path, fold: int) -> FoldResult | None:
    arrays, scores = fold_paths(run_dir, fold)
    if not scores.is_file():
        return None
    saved = json.loads(scores.read_text())
    with np.load(arrays) as data:
        return FoldResult(fold, data["rows"], data["proba"], data["test_proba"], saved["scores"], saved["history"])


def done_folds(run_dir: Path, n_folds: int) -> list[int]:
    return [k for k in range(n_folds) if fold_paths(run_dir, k)[1].is_file()]


def summarise(results: list[FoldResult], y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """OOF and test probabilities and the run's scores from its folds; ``y`` is the encoded labels
    of every train row."""
    oof = np.full((len(y), n_classes), np.nan)
    for result in results:
        oof[result.rows] = result.proba
    used = ~np.isnan(oof[:, 0])
    test = np.mean([result.test_proba for result in results], axis=0)
    accuracy = [r.scores["accuracy"] for r in results]
    losses = [r.scores["log_loss"] for r in results]
    scores = {
        "folds": [r.scores for r in results],
        "accuracy_mean": float(np.mean(accuracy)), "accuracy_std": float(np.std(accuracy)),
        "log_loss_mean": float(np.mean(losses)), "log_loss_std": float(np.std(losses)),
        "oof_accuracy": float(np.mean(np.argmax(oof[used], axis=1) == y[used])),
        "oof_log_loss": clipped_log_loss(y[used], oof[used]),
        "oof_rows": int(used.sum()),
        "fit_seconds": float(sum(r.scores["fit_seconds"] for r in results)),
        "predict_seconds": float(sum(r.scores["predict_seconds"] for r in results)),
    }
    return oof, test, scores


def finish(run_dir: Path, results: list[FoldResult], y: np.ndarray, n_classes: int) -> dict:
    """Write ``oof.npy``, ``test.npy``, ``histories.json`` and finally ``scores.json``."""
    oof, test, scores = summarise(results, y, n_classes)
    save_npy_atomic(run_dir / OOF, oof)
    save_npy_atomic(run_dir / TEST, test)
    write_json_atomic(run_dir / HISTORIES, {str(r.fold): r.history for r in results})
    write_json_atomic(run_dir / SCORES, scores)
    return scores


def load_run(path: str | Path) -> Run:
    path = Path(path)
    config_path = path / CONFIG
    if not config_path.is_file():
        raise FileNotFoundError(f"{path}: not a run folder (no {CONFIG})")
    config = json.loads(config_path.read_text())
    scores = json.loads((path / SCORES).read_text()) if (path / SCORES).is_file() else None
    return Run(path, config, scores, done_folds(path, config["folds"]))


def list_runs(runs_dir: str | Path = "runs") -> list[Run]:
    """Every run under ``runs_dir``, oldest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    return [load_run(p) for p in sorted(runs_dir.iterdir()) if (p / CONFIG).is_file()]


def format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def describe(run: Run) -> str:
    c = run.config
    limit = f" limit {c['limit']}" if c.get("limit") else ""
    if run.finished:
        s = run.scores
        status = (f"accuracy {s['accuracy_mean']:.4f} +- {s['accuracy_std']:.4f}  oof {s['oof_accuracy']:.4f}  "
                  f"{format_seconds(s['fit_seconds'] + s['predict_seconds'])}")
    else:
        status = f"unfinished: {len(run.done_folds)} of {c['folds']} folds done (--resume {run.path})"
    return f"{run.name:<36} {c['model']:<9} {c['folds']}-fold{limit}  {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m competition.runs", description="List cross-validation runs.")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="folder of runs (default: runs)")
    args = parser.parse_args(argv)
    runs = list_runs(args.runs_dir)
    if not runs:
        print(f"no runs in {args.runs_dir}; start one with python -m competition.cv --model NAME")
    for run in runs:
        print(describe(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
