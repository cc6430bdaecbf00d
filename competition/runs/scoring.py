"""How a cross-validation is scored: a fold's scores, a run's summary of its folds, and a finished
run's CV in the competition's metric. Pure functions of arrays and scores, for cross-validation,
ensembles and tuning alike; ``runs`` stores what they compute, never computes it.
"""

from __future__ import annotations

import numpy as np

from ..data import metrics
from .records import FoldResult, RefitResult, Run


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Log loss of encoded labels ``y`` (``metrics.clipped_log_loss``: probabilities kept off 0,
    so that one confident miss does not make it infinite). The one log loss of runs and ensembles."""
    return metrics.clipped_log_loss(y, proba, proba.shape[1])


def score_fold(fold: int, y: np.ndarray, proba: np.ndarray, *, train_rows: int, fit_seconds: float = 0.0,
               predict_seconds: float = 0.0, best_iteration: int | None = None) -> dict:
    """One fold's scores: ``y`` are encoded labels, ``proba`` the held-out rows' probabilities."""
    return {
        "fold": fold,
        "accuracy": float(np.mean(np.argmax(proba, axis=1) == y)),
        "log_loss": log_loss(y, proba),
        "rows": int(len(y)),
        "train_rows": int(train_rows),
        "fit_seconds": round(fit_seconds, 3),
        "predict_seconds": round(predict_seconds, 3),
        "best_iteration": best_iteration,
    }


def summarise(results: list[FoldResult], y: np.ndarray, n_classes: int, refit: RefitResult | None = None,
              metric: str = metrics.DEFAULT) -> tuple[np.ndarray, np.ndarray, dict]:
    """OOF and test probabilities and the run's scores from its folds; ``y`` is the encoded labels
    of every train row. The test probabilities are the fold models' mean, or the ``refit``'s.
    Beside accuracy and log loss, the competition's ``metric`` on each fold and the OOF rows
    (``metric``, ``score_mean``, ``score_std``, ``fold_scores``, ``oof_score``)."""
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
        "oof_accuracy": oof_accuracy(oof, y, used),
        "oof_log_loss": log_loss(y[used], oof[used]),
        "oof_rows": int(used.sum()),
        "fit_seconds": float(sum(r.scores["fit_seconds"] for r in results)),
        "predict_seconds": float(sum(r.scores["predict_seconds"] for r in results)),
    }
    fold_of = np.full(len(y), -1)
    for result in results:
        fold_of[result.rows] = result.fold
    scores.update(metrics.cv_scores(metrics.get(metric), oof, y, fold_of))
    if refit is not None:
        test = refit.test_proba
        scores["refit"] = refit.scores
        scores["fit_seconds"] += refit.scores["fit_seconds"]
        scores["predict_seconds"] += refit.scores["predict_seconds"]
    return oof, test, scores


def oof_accuracy(oof: np.ndarray, y: np.ndarray, used: np.ndarray) -> float:
    """The accuracy of the out-of-fold rows ``used`` (0 when there are none)."""
    return float(np.mean(np.argmax(oof[used], axis=1) == y[used])) if used.any() else 0.0


def metric_scores(run: Run, metric: str) -> dict:
    """The finished ``run``'s CV in ``metric`` (``metrics.cv_scores``' record): as saved when the
    run was scored by it, else computed from its arrays (a run made before competition.json said
    otherwise, or by accuracy alone)."""
    if run.scores.get("metric") == metric and "score_mean" in run.scores:
        return {key: run.scores[key] for key in ("metric", "score_mean", "score_std", "fold_scores", "oof_score")}
    if metric == metrics.DEFAULT:  # every run's scores hold accuracy
        s = run.scores
        return {"metric": metric, "score_mean": s["accuracy_mean"], "score_std": s["accuracy_std"],
                "fold_scores": [fold["accuracy"] for fold in s["folds"]], "oof_score": s["oof_accuracy"]}
    return metrics.cv_scores(metrics.get(metric), run.oof(), run.labels(), run.folds())
