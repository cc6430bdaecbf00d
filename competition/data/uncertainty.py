"""How sure a score is: its interval, paired comparisons, tied groups ("tiers") and the shake-up.

A score on a few thousand test rows carries sampling noise of about a point; this module says how
much, with well-kept libraries rather than hand-written statistics:

- accuracy is a proportion: its interval is Wilson's (statsmodels ``proportion_confint``) and two
  submissions on the same rows are compared by the exact McNemar test (statsmodels ``mcnemar``);
- every other metric is recomputed on rows resampled with replacement (SciPy ``bootstrap``,
  percentile method, a fixed seed so that the same data always gives the same interval);
- one entry compared with many is Holm-corrected (``holm``: statsmodels' ``multipletests`` rule,
  without its garbage collection at every call).

Every bootstrap here draws its resamples through ``scipy.stats.bootstrap`` over the row indices, so
that one draw serves all entries at once (the same resampled rows for every entry: paired
differences, joint ranks) and a statistic is computed for 2,000 resamples in a few array
operations: a resample is a column of counts (how often each row was drawn), a decomposable metric
is its per-row outcomes times those counts, a confusion-matrix metric (F1, kappa, MCC, balanced
accuracy) is computed from all resamples' confusion matrices at once (built from the wrong rows
only), and ROC AUC from a weighted Mann-Whitney count over the rows sorted once by score. The
same seed draws the same resamples whatever the statistic, so ``intervals`` of many entries
equals ``interval`` of each.

``predicted`` is what ``Metric.score`` takes: class indices for a label metric, an ``(n, K)``
probability matrix for a probability metric.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError
from .metrics import LABELS, LOG_LOSS_EPS, Metric

DEFAULT_CONFIDENCE = 0.95
DEFAULT_ALPHA = 0.05
RESAMPLES = 2000
_BATCH_CELLS = 4_000_000  # resampled rows per batch: bounds memory (a (batch, n) count matrix)

MCNEMAR, BOOTSTRAP = "mcnemar", "bootstrap"


# --- per-row outcomes -------------------------------------------------------------------------

def outcomes(metric: Metric, y_true, predicted, n_classes: int) -> np.ndarray | None:
    """Each row's share of a decomposable score (its mean is the score): 1.0/0.0 for a right/wrong
    class under accuracy, the row's clipped loss under log loss; ``None`` for a metric that is not
    a mean over rows (F1, kappa, MCC, balanced accuracy, AUC: recompute it from the rows)."""
    y_true = np.asarray(y_true)
    if metric.name == "accuracy":
        return (y_true == np.asarray(predicted)).astype(np.float64)
    if metric.name == "log_loss":
        proba = np.clip(np.asarray(predicted, dtype=np.float64), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
        proba = proba / proba.sum(axis=1, keepdims=True)
        return -np.log(proba[np.arange(len(y_true)), y_true.astype(np.int64)])
    return None


# --- metrics of many confusion matrices at once ------------------------------------------------
# Each takes confusions of shape (..., K, K) (true class by row, predicted class by column, as
# scikit-learn's confusion_matrix) and answers the metric of each, as scikit-learn would on the
# rows behind it; tests/data/test_uncertainty.py checks them against scikit-learn.

def _balanced_accuracy(c: np.ndarray) -> np.ndarray:
    support = c.sum(axis=-1)
    recall = np.diagonal(c, axis1=-2, axis2=-1) / np.where(support > 0, support, 1)
    present = support > 0  # scikit-learn leaves out a class absent from y_true
    return (recall * present).sum(axis=-1) / present.sum(axis=-1)


def _f1_per_class(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    denominator = c.sum(axis=-1) + c.sum(axis=-2)  # 2tp + fp + fn
    return 2 * tp / np.where(denominator > 0, denominator, 1), denominator > 0


def _f1_macro(c: np.ndarray) -> np.ndarray:
    f1, present = _f1_per_class(c)  # scikit-learn averages over the classes in y_true or y_pred
    return (f1 * present).sum(axis=-1) / present.sum(axis=-1)


def _f1_weighted(c: np.ndarray) -> np.ndarray:
    f1, _ = _f1_per_class(c)
    support = c.sum(axis=-1)
    return (f1 * support).sum(axis=-1) / support.sum(axis=-1)


def _mcc(c: np.ndarray) -> np.ndarray:
    true, pred = c.sum(axis=-1), c.sum(axis=-2)
    n = c.sum(axis=(-2, -1))
    correct = np.trace(c, axis1=-2, axis2=-1)
    cov_tp = correct * n - (true * pred).sum(axis=-1)
    cov_pp = n ** 2 - (pred * pred).sum(axis=-1)
    cov_tt = n ** 2 - (true * true).sum(axis=-1)
    product = cov_tt * cov_pp
    return np.where(product > 0, cov_tp / np.sqrt(np.where(product > 0, product, 1)), 0.0)


def _kappa_quadratic(c: np.ndarray) -> np.ndarray:
    k = c.shape[-1]
    weights = (np.arange(k)[:, None] - np.arange(k)[None, :]) ** 2.0
    n = c.sum(axis=(-2, -1))
    expected = c.sum(axis=-2)[..., :, None] * c.sum(axis=-1)[..., None, :] / n[..., None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - (weights * c).sum(axis=(-2, -1)) / (weights * expected).sum(axis=(-2, -1))


_FROM_CONFUSION: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "balanced_accuracy": _balanced_accuracy, "f1_macro": _f1_macro, "f1_weighted": _f1_weighted,
    "mcc": _mcc, "cohen_kappa_quadratic": _kappa_quadratic,
}


# --- the resampling engine --------------------------------------------------------------------

def _rows(y_true, predictions: list, n_classes: int) -> tuple[np.ndarray, list[np.ndarray]]:
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        raise InputError("no rows to score: an interval needs at least one row")
    predictions = [np.asarray(p) for p in predictions]
    for p in predictions:
        if len(p) != len(y_true):
            raise InputError(f"predictions have {len(p)} rows, the key {len(y_true)}")
    return y_true, predictions


def _statistic(metric: Metric, y_true: np.ndarray, predictions: list[np.ndarray], n_classes: int
               ) -> Callable[[np.ndarray], np.ndarray]:
    """A function of resampled row indices ``(batch, n)`` that answers each entry's score on each
    resample, shape ``(entries, batch)``: the metric recomputed on the resampled rows."""
    n = len(y_true)
    per_row = [outcomes(metric, y_true, p, n_classes) for p in predictions]
    if per_row and per_row[0] is not None:
        table = np.stack(per_row, axis=1)  # (n, entries), float64: a log loss keeps its digits

        def decomposable(idx: np.ndarray) -> np.ndarray:
            return table.T @ _counts(idx, n) / n

        return decomposable
    if metric.name in _FROM_CONFUSION and metric.needs == LABELS:
        return _confusion_statistic(_FROM_CONFUSION[metric.name], y_true, predictions, n_classes)
    if metric.name == "roc_auc_ovr":
        return _auc_statistic(y_true, predictions, n_classes)

    def recomputed(idx: np.ndarray) -> np.ndarray:  # any other metric: one call a resample
        out = np.full((len(predictions), idx.shape[0]), np.nan)
        for j, p in enumerate(predictions):
            for b, rows in enumerate(idx):
                try:
                    out[j, b] = metric.score(y_true[rows], p[rows], n_classes)
                except (InputError, ValueError):
                    pass  # undefined on this resample (a class missing): left out of the percentiles
        return out

    return recomputed


def _confusion_statistic(from_confusion: Callable[[np.ndarray], np.ndarray], y_true: np.ndarray,
                         predictions: list[np.ndarray], k: int) -> Callable[[np.ndarray], np.ndarray]:
    """The statistic of a confusion-matrix metric, all resamples' confusions at once. A resample's
    confusion is its drawn rows' classes on the diagonal, moved off it by the drawn wrong rows: the
    work is proportional to the wrong rows (a tenth of them on a good board), not to all rows."""
    n = len(y_true)
    y_true = y_true.astype(np.int64)
    true_class = np.eye(k, dtype=np.float32)[y_true].T  # (K, n): the diagonal before any row is wrong
    diagonal = np.arange(k) * (k + 1)
    moves = []  # per entry: the wrong rows sorted by cell, where each cell starts, the cells, their true classes
    for p in predictions:
        wrong = np.flatnonzero(p.astype(np.int64) != y_true)
        cells = y_true[wrong] * k + p[wrong].astype(np.int64)
        order = np.argsort(cells, kind="stable")
        cell_ids, starts = np.unique(cells[order], return_index=True)
        moves.append((wrong[order], starts, cell_ids, np.eye(k, dtype=np.float32)[cell_ids // k].T))

    def confusion(idx: np.ndarray) -> np.ndarray:
        counts = _counts(idx, n)
        drawn = true_class @ counts  # (K, batch)
        out = np.empty((len(moves), idx.shape[0]))
        for j, (rows, starts, cell_ids, their_class) in enumerate(moves):
            c = np.zeros((k * k, idx.shape[0]), dtype=np.float32)
            c[diagonal] = drawn
            if len(rows):
                moved = np.add.reduceat(counts[rows], starts, axis=0)  # (cells, batch)
                c[cell_ids] += moved
                c[diagonal] -= their_class @ moved
            out[j] = from_confusion(c.T.reshape(-1, k, k).astype(np.float64))
        return out

    return confusion


def _auc_statistic(y_true: np.ndarray, predictions: list[np.ndarray], k: int) -> Callable[[np.ndarray], np.ndarray]:
    """The statistic of one-vs-rest ROC AUC (``metrics.roc_auc_ovr``), all resamples at once, each
    row weighted by how often the resample drew it. A class's AUC is Mann-Whitney's: with M_i the
    drawn weight of the rows scored below row i plus half of those scored equal (itself included),
    AUC = (sum over positives of w_i M_i - W_pos^2 / 2) / (W_pos W_neg); macro-averaged over the
    classes (class 1 alone with two classes). A resample missing a class is undefined (NaN), as
    scikit-learn refuses it."""
    classes = [1] if k == 2 else list(range(k))
    plans = []  # per entry and class: rows by score; each positive's place, its tie run's first and last place
    for p in predictions:
        plan = []
        for c in classes:
            order = np.argsort(p[:, c], kind="stable")
            scores = p[order, c]
            first = np.searchsorted(scores, scores, side="left")
            last = np.searchsorted(scores, scores, side="right") - 1
            at = np.flatnonzero(y_true[order] == c)
            plan.append((order, at, first[at], last[at]))
        plans.append(plan)

    def auc(idx: np.ndarray) -> np.ndarray:
        counts = _counts(idx, len(y_true))
        total = counts.sum(axis=0, dtype=np.float64)
        out = np.empty((len(plans), idx.shape[0]))
        for j, plan in enumerate(plans):
            per_class = []
            for order, at, first, last in plan:
                below = np.cumsum(counts[order], axis=0)  # drawn weight up to each place, float32: exact below 2**24
                w = below[at] - np.where(at[:, None] > 0, below[np.maximum(at - 1, 0)], 0)
                lower = np.where(first[:, None] > 0, below[np.maximum(first - 1, 0)], 0).astype(np.float64)
                mid = (lower + below[last]) / 2  # M_i: below the tie run, and half of it
                positive = w.sum(axis=0, dtype=np.float64)
                pairs = positive * (total - positive)
                with np.errstate(invalid="ignore", divide="ignore"):
                    per_class.append(np.where(pairs > 0, ((w * mid).sum(axis=0) - positive ** 2 / 2) / pairs, np.nan))
            out[j] = np.mean(per_class, axis=0)
        return out

    return auc


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each row was drawn by each resample: ``(n, batch)`` from indices ``(batch, n)`` (rows
    first, so that a row's counts over the batch lie together and gathering rows is cheap). Counts
    and their sums up to 2**24 are exact in float32."""
    batch = idx.shape[0]
    flat = (idx * batch + np.arange(batch)[:, None]).ravel()
    return np.bincount(flat, minlength=batch * n).reshape(n, batch).astype(np.float32)


@functools.cache
def _blas():
    """The loaded BLAS libraries, found once (threadpoolctl reads the process's libraries to find them)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _bootstrap(statistic: Callable[[np.ndarray], np.ndarray], n: int, confidence: float, resamples: int,
               seed: int):
    """SciPy's percentile bootstrap over the row indices ``0..n-1`` of ``statistic`` (entries, batch):
    the result's ``confidence_interval`` and ``bootstrap_distribution`` ``(entries, resamples)``."""
    from scipy.stats import bootstrap

    if not 0 < confidence < 1:
        raise InputError(f"confidence must lie between 0 and 1, not {confidence}")
    # One BLAS thread: the products here are small and many, and OpenBLAS's threads on a busy
    # machine made them 40 times slower (0.45 s for a 10 x 10,000 x 400 product on 2 loaded cores).
    with warnings.catch_warnings(), _blas().limit(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")  # a degenerate distribution (identical entries) is an answer here
        return bootstrap((np.arange(n),), lambda idx, axis=-1: statistic(idx), vectorized=True,
                         n_resamples=resamples, batch=max(1, _BATCH_CELLS // n), method="percentile",
                         confidence_level=confidence, rng=np.random.default_rng(seed))


def bootstrap_distribution(metric: Metric, y_true, predictions: list, n_classes: int,
                           resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """Each entry's score on the same ``resamples`` resampled row sets: ``(entries, resamples)``."""
    y_true, predictions = _rows(y_true, predictions, n_classes)
    statistic = _statistic(metric, y_true, predictions, n_classes)
    return np.atleast_2d(_bootstrap(statistic, len(y_true), DEFAULT_CONFIDENCE, resamples, seed)
                         .bootstrap_distribution)


# --- intervals --------------------------------------------------------------------------------

def interval(metric: Metric, y_true, predicted, n_classes: int, confidence: float = DEFAULT_CONFIDENCE,
             seed: int = 0, resamples: int = RESAMPLES) -> tuple[float, float]:
    """The ``confidence`` interval of ``metric`` on these rows: Wilson's for accuracy, SciPy's
    percentile bootstrap over the rows for any other metric."""
    return intervals(metric, y_true, [predicted], n_classes, confidence, seed, resamples)[0]


def intervals(metric: Metric, y_true, predictions: list, n_classes: int,
              confidence: float = DEFAULT_CONFIDENCE, seed: int = 0, resamples: int = RESAMPLES
              ) -> list[tuple[float, float]]:
    """``interval`` of each entry, from one bootstrap draw for all (a board's many entries): entry
    ``j``'s interval is the one ``interval`` gives it alone."""
    y_true, predictions = _rows(y_true, predictions, n_classes)
    if not predictions:
        return []
    if metric.name == "accuracy":
        from statsmodels.stats.proportion import proportion_confint

        if not 0 < confidence < 1:
            raise InputError(f"confidence must lie between 0 and 1, not {confidence}")
        answer = []
        for p in predictions:
            low, high = proportion_confint(int((y_true == p).sum()), len(y_true), alpha=1 - confidence,
                                           method="wilson")
            answer.append((float(low), float(high)))
        return answer
    statistic = _statistic(metric, y_true, predictions, n_classes)
    ci = _bootstrap(statistic, len(y_true), confidence, resamples, seed).confidence_interval
    return [(float(low), float(high)) for low, high in zip(np.atleast_1d(ci.low), np.atleast_1d(ci.high))]


# --- paired comparisons -----------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """B compared with A on the same rows: ``difference`` = B minus A in the metric's own units,
    its interval [low, high], the two-sided p-value of "no difference" and the test that gave it."""

    difference: float
    low: float
    high: float
    p: float
    test: str  # MCNEMAR or BOOTSTRAP

    def separated(self, alpha: float = DEFAULT_ALPHA) -> bool:
        """Whether the test tells the two apart at ``alpha``."""
        return self.p < alpha


def mcnemar_p(right_a: np.ndarray, right_b: np.ndarray) -> float:
    """The exact McNemar p-value of two submissions' per-row right/wrong outcomes on the same rows."""
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(right_a, dtype=bool), np.asarray(right_b, dtype=bool)
    table = [[int((a & b).sum()), int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
    return float(mcnemar(table, exact=True).pvalue)


def bootstrap_p(differences: np.ndarray, observed: float) -> float:
    """The two-sided p-value of "no difference" from a paired bootstrap distribution of a difference
    whose observed value is ``observed``: the share of resampled differences at least as far from
    ``observed`` as ``observed`` is from zero (the distribution moved to the null, as Hall and
    Wilson 1991 advise), counted with one so that finite resamples never answer 0. Identical entries
    (every difference 0) answer 1. On a handful of differing rows the bootstrap is bolder than an
    exact test: 4 rows of 3,000, all one way, get p = 0.05 here (0.04 from the share of resamples
    beyond zero) where McNemar's exact test says 0.125; 3 rows get 0.13."""
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return 1.0
    beyond = (np.abs(d - observed) >= abs(observed) - 1e-12).sum()
    return float(min(1.0, (beyond + 1) / (len(d) + 1)))


def compare(metric: Metric, y_true, pred_a, pred_b, n_classes: int, confidence: float = DEFAULT_CONFIDENCE,
            seed: int = 0, resamples: int = RESAMPLES) -> Comparison:
    """B against A on the same rows: for accuracy the exact McNemar p-value, for any other metric the
    paired bootstrap's; the interval of the difference is the paired bootstrap's in both."""
    y_true, (a, b) = _rows(y_true, [pred_a, pred_b], n_classes)
    statistic = _statistic(metric, y_true, [a, b], n_classes)
    result = _bootstrap(lambda idx: np.diff(statistic(idx), axis=0)[0], len(y_true), confidence, resamples, seed)
    difference = metric.score(y_true, b, n_classes) - metric.score(y_true, a, n_classes)
    if metric.name == "accuracy":
        p, test = mcnemar_p(y_true == a, y_true == b), MCNEMAR
    else:
        p, test = bootstrap_p(result.bootstrap_distribution, difference), BOOTSTRAP
    return Comparison(float(difference), float(result.confidence_interval.low),
                      float(result.confidence_interval.high), p, test)


def holm(p_values: list[float], alpha: float = DEFAULT_ALPHA) -> list[bool]:
    """Which of ``p_values`` Holm's step-down procedure rejects at family-wise ``alpha``, in their
    order: the rejections of statsmodels' ``multipletests(method="holm")`` (tests/data/
    test_uncertainty.py checks them against it). Not that function itself: it runs a full
    ``gc.collect()`` at every call, 0.1-0.5 s in a process holding a large heap (a grader server, the
    test suite), paid once per tier of every board drawn."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    kept = p[order] > alpha / np.arange(len(p), 0, -1)  # the first kept (not rejected) stops the descent
    stop = int(np.argmax(kept)) if kept.any() else len(p)
    rejected = np.zeros(len(p), dtype=bool)
    rejected[order[:stop]] = True
    return rejected.tolist()


def tiers(metric: Metric, y_true, predictions: list, n_classes: int, alpha: float = DEFAULT_ALPHA,
          seed: int = 0, resamples: int = RESAMPLES) -> list[int]:
    """The tier of each entry, ``predictions`` given in rank order (best first): tier 1 is the leader
    and every entry the paired test cannot separate from it at ``alpha``, Holm-corrected over the
    entries compared with that leader; the next tier starts at the first separated entry, and so on."""
    y_true, predictions = _rows(y_true, predictions, n_classes)
    if metric.name == "accuracy":
        right = [y_true == p for p in predictions]

        def p_values(leader: int) -> list[float]:
            return [mcnemar_p(right[leader], right[j]) for j in range(leader + 1, len(right))]
    else:
        scores = bootstrap_distribution(metric, y_true, predictions, n_classes, resamples, seed) \
            if len(predictions) > 1 else None
        observed = [metric.score(y_true, p, n_classes) for p in predictions]

        def p_values(leader: int) -> list[float]:
            return [bootstrap_p(scores[j] - scores[leader], observed[j] - observed[leader])
                    for j in range(leader + 1, len(predictions))]

    answer = [0] * len(predictions)
    leader, tier = 0, 1
    while leader < len(predictions):
        answer[leader] = tier
        rest = p_values(leader)
        separated = holm(rest, alpha)
        first = next((leader + 1 + i for i, s in enumerate(separated) if s), len(predictions))
        for j in range(leader + 1, first):
            answer[j] = tier
        leader, tier = first, tier + 1
    return answer


# --- the board as a whole ---------------------------------------------------------------------

def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def shakeup(public_ranks: list[int], private_ranks: list[int]) -> dict:
    """How far the private board moved from the public one: Spearman's and Kendall's correlation of
    the ranks (None when undefined: fewer than two entries or a constant board), the mean
    |private - public| rank change over N, and the same over the best 10% by private rank."""
    from scipy.stats import kendalltau, spearmanr

    public, private = np.asarray(public_ranks, dtype=np.float64), np.asarray(private_ranks, dtype=np.float64)
    if len(public) != len(private):
        raise InputError(f"{len(public)} public ranks but {len(private)} private ranks")
    n = len(public)
    if n == 0:
        return {"spearman": None, "kendall": None, "shakeup": None, "shakeup_top10": None}
    moves = np.abs(private - public) / n
    top = np.argsort(private, kind="stable")[:max(1, n // 10)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant board: SciPy warns and answers NaN
        spearman = spearmanr(public, private).statistic if n > 1 else math.nan
        kendall = kendalltau(public, private).statistic if n > 1 else math.nan
    return {"spearman": _finite(spearman), "kendall": _finite(kendall),
            "shakeup": float(moves.mean()), "shakeup_top10": float(moves[top].mean())}


def p_first(metric: Metric, y_true, predictions: list, n_classes: int, resamples: int = RESAMPLES,
            seed: int = 0) -> list[float]:
    """Each entry's probability of rank 1: the share of joint bootstrap resamples (the same resampled
    rows for every entry) on which it scores best; entries tied on a resample share it."""
    if not predictions:
        return []
    scores = bootstrap_distribution(metric, y_true, predictions, n_classes, resamples, seed)
    losses = np.where(np.isfinite(scores), -scores if metric.higher_is_better else scores, np.inf)
    best = losses == losses.min(axis=0, keepdims=True)
    return [float(v) for v in (best / best.sum(axis=0, keepdims=True)).mean(axis=1)]
