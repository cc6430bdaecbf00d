"""The competition's metrics: one registry of name -> scikit-learn function, direction and input.

A host picks one metric per competition (``prepare --metric``, recorded in ``competition.json``);
the grader, cv, tune, the ensembles and the leaderboard all read it from here, so that a score, its
direction and what a submission must hold are written down once.

Every metric scores encoded labels: ``y_true`` holds class indices into the competition's classes
in the loader's order (``np.unique`` of train.csv's labels: numbers in numeric order, text in text
order), so that quadratic kappa's distances are the distances of that order. A label metric gets
predicted class indices; a probability metric an ``(n, K)`` matrix, column k for class k.

    metric = get("f1_macro")
    metric.score(y_true, y_pred, n_classes=10)
    metric.from_probabilities(y_true, proba)   # cv and ensembles: the argmax for a label metric
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ..errors import InputError

LABELS, PROBABILITIES = "labels", "probabilities"
LOG_LOSS_EPS = 1e-15  # Kaggle's clipping: one confident miss costs -log(1e-15), not infinity


def clipped_log_loss(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> float:
    """Log loss with probabilities clipped to [1e-15, 1 - 1e-15] and rows renormalised, as Kaggle does."""
    from sklearn.metrics import log_loss

    proba = np.clip(np.asarray(proba, dtype=np.float64), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return float(log_loss(y_true, proba / proba.sum(axis=1, keepdims=True), labels=np.arange(n_classes)))


def roc_auc_ovr(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> float:
    """One-vs-rest ROC AUC, macro-averaged; with two classes the AUC of class 1's probability."""
    from sklearn.metrics import roc_auc_score

    absent = sorted(set(range(n_classes)) - set(np.asarray(y_true).tolist()))
    if absent:  # scikit-learn would warn and answer NaN
        raise InputError(f"roc_auc_ovr is undefined on rows without class index {absent[0]} (every class must occur)")
    proba = np.asarray(proba, dtype=np.float64)
    if n_classes == 2:
        return float(roc_auc_score(y_true, proba[:, 1]))
    return float(roc_auc_score(y_true, proba, multi_class="ovr", labels=np.arange(n_classes)))


@dataclass(frozen=True)
class Metric:
    """A metric, its direction and what it scores (labels or probabilities)."""

    name: str
    function: Callable[[np.ndarray, np.ndarray, int], float]  # (y_true, predicted, n_classes)
    higher_is_better: bool
    needs: str  # LABELS or PROBABILITIES
    smooth: bool  # differentiable in the probabilities: ensemble weights may optimise it directly
    description: str

    def score(self, y_true, predicted, n_classes: int) -> float:
        return float(self.function(np.asarray(y_true), np.asarray(predicted), n_classes))

    def from_probabilities(self, y_true, proba) -> float:
        """The score of probabilities ``proba``: a label metric scores their argmax (cv, ensembles)."""
        proba = np.asarray(proba)
        predicted = proba if self.needs == PROBABILITIES else np.argmax(proba, axis=1)
        return self.score(y_true, predicted, proba.shape[1])

    def loss(self, value: float) -> float:
        """``value`` turned into something to minimise (optimisers, sorting best first)."""
        return -value if self.higher_is_better else value

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` beats score ``b``."""
        return self.loss(a) < self.loss(b)

    @property
    def direction(self) -> str:
        return "maximize" if self.higher_is_better else "minimize"


def _labels(name: str, **options) -> Callable[[np.ndarray, np.ndarray, int], float]:
    """scikit-learn's label metric ``name`` with ``options``, imported when it first scores (the
    registry is read by every command's options; scikit-learn takes seconds to import)."""

    def score(y_true, y_pred, n_classes):
        from sklearn import metrics

        return getattr(metrics, name)(y_true, y_pred, **options)

    return score


def _kappa_quadratic(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    from sklearn.metrics import cohen_kappa_score

    return cohen_kappa_score(y_true, y_pred, weights="quadratic", labels=np.arange(n_classes))


REGISTRY: dict[str, Metric] = {m.name: m for m in [
    Metric("accuracy", _labels("accuracy_score"), True, LABELS, False, "share of rows whose class is right"),
    Metric("balanced_accuracy", _labels("balanced_accuracy_score"), True, LABELS, False,
           "mean recall over the classes"),
    Metric("f1_macro", _labels("f1_score", average="macro", zero_division=0), True, LABELS, False,
           "F1 of each class, averaged with equal weights"),
    Metric("f1_weighted", _labels("f1_score", average="weighted", zero_division=0), True, LABELS, False,
           "F1 of each class, weighted by its rows"),
    Metric("mcc", _labels("matthews_corrcoef"), True, LABELS, False, "Matthews correlation coefficient"),
    Metric("cohen_kappa_quadratic", _kappa_quadratic, True, LABELS, False,
           "Cohen's kappa with quadratic weights, classes ordered as sorted labels"),
    Metric("log_loss", clipped_log_loss, False, PROBABILITIES, True,
           "multi-class log loss of the probabilities, clipped at 1e-15"),
    Metric("roc_auc_ovr", roc_auc_ovr, True, PROBABILITIES, False, "one-vs-rest ROC AUC, macro-averaged"),
]}
DEFAULT = "accuracy"  # a competition that declares nothing


def get(name: str) -> Metric:
    """The metric called ``name``; an unknown name is refused with the list of known ones."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown metric {name!r}; known metrics: {', '.join(REGISTRY)}") from None


def encode(labels: Iterable[str], classes: list) -> np.ndarray:
    """Label texts as class indices into ``classes`` (the loader's order, compared as text)."""
    index = {str(c): k for k, c in enumerate(classes)}
    return np.array([index[str(label)] for label in labels], dtype=np.int64)


def cv_scores(metric: Metric, oof: np.ndarray, y: np.ndarray, folds: np.ndarray) -> dict:
    """``metric`` on each fold's held-out rows (fold ``k``: ``folds == k``; -1 is left out) and on
    all OOF rows together: the record a run, a sidecar and a board compare to public scores."""
    per_fold = [metric.from_probabilities(y[folds == k], oof[folds == k]) for k in range(int(folds.max()) + 1)
                if (folds == k).any()]
    if not per_fold:
        raise InputError("no cross-validated rows to score")
    used = folds >= 0
    return {"metric": metric.name, "score_mean": float(np.mean(per_fold)), "score_std": float(np.std(per_fold)),
            "fold_scores": per_fold, "oof_score": metric.from_probabilities(y[used], oof[used])}
