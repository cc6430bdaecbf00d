"""How sure a score is (competition/data/uncertainty.py): intervals that cover the truth as often as
they say, McNemar and the paired bootstrap against independent computations, tiers on crafted
boards, the shake-up and P(first) on hand-counted cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import binomtest
from statsmodels.stats.contingency_tables import mcnemar

from competition.data import metrics, uncertainty

CONFUSION_METRICS = ["balanced_accuracy", "f1_macro", "f1_weighted", "mcc", "cohen_kappa_quadratic"]


def noisy(y: np.ndarray, accuracy: float, n_classes: int, rng) -> np.ndarray:
    """Predictions right on about ``accuracy`` of the rows, a random class elsewhere."""
    wrong = rng.random(len(y)) > accuracy
    return np.where(wrong, (y + rng.integers(1, n_classes, len(y))) % n_classes, y)


def with_right_rows(y: np.ndarray, right: np.ndarray, n_classes: int) -> np.ndarray:
    """Predictions right exactly where ``right`` is True (wrong rows get the next class)."""
    return np.where(right, y, (y + 1) % n_classes)


def test_outcomes_average_to_the_score():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 500)
    labels = noisy(y, 0.7, 4, rng)
    proba = rng.dirichlet(np.ones(4), 500)
    proba[0] = [1, 0, 0, 0]  # a confident row: clipped as the metric clips it
    for name, predicted in (("accuracy", labels), ("log_loss", proba)):
        metric = metrics.get(name)
        assert uncertainty.outcomes(metric, y, predicted, 4).mean() == pytest.approx(metric.score(y, predicted, 4))
    assert uncertainty.outcomes(metrics.get("f1_macro"), y, labels, 4) is None


@pytest.mark.parametrize("name", CONFUSION_METRICS)
def test_all_resamples_at_once_equal_scikit_learn_on_each(name):
    """The vectorised confusion-matrix statistic against the metric (scikit-learn) on every resample,
    including resamples missing a class and an entry that is always right."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 40)
    entries = [rng.integers(0, 4, 40), y.copy(), np.where(y == 1, 2, y)]
    resampled = rng.integers(0, 40, (60, 40))
    resampled[0] = np.flatnonzero(y == 0)[0]  # one class only
    resampled[1] = np.flatnonzero(y != 3)[rng.integers(0, (y != 3).sum(), 40)]  # class 3 absent
    metric = metrics.get(name)
    fast = uncertainty._statistic(metric, y, entries, 4)(resampled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns on a resample missing a class
        slow = np.array([[metric.score(y[rows], e[rows], 4) for rows in resampled] for e in entries])
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_roc_auc_of_all_resamples_at_once_equals_scikit_learn_on_each(n_classes):
    """Weighted Mann-Whitney against the metric (scikit-learn) on every resample: scores with many
    ties (rounded), and a resample missing class 0 (undefined: NaN both ways)."""
    rng = np.random.default_rng(10)
    y = rng.integers(0, n_classes, 60)
    tied = np.round(rng.dirichlet(np.ones(n_classes), 60), 1) + 0.05
    entries = [rng.dirichlet(np.ones(n_classes), 60), tied / tied.sum(axis=1, keepdims=True)]
    resampled = rng.integers(0, 60, (40, 60))
    resampled[0] = np.flatnonzero(y != 0)[rng.integers(0, (y != 0).sum(), 60)]
    metric = metrics.get("roc_auc_ovr")
    fast = uncertainty._statistic(metric, y, entries, n_classes)(resampled)
    slow = np.full_like(fast, np.nan)
    for j, entry in enumerate(entries):
        for b, rows in enumerate(resampled[1:], start=1):
            slow[j, b] = metric.score(y[rows], entry[rows], n_classes)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12, equal_nan=True)
    assert np.isnan(fast[:, 0]).all()


def test_wilson_interval_by_its_formula_and_its_coverage():
    """Wilson's interval as its formula gives it, and over 1,000 simulated test sets of a true
    accuracy of 0.9 the 95% interval covers 0.9 in 93-97% of them."""
    metric = metrics.get("accuracy")
    y = np.zeros(3000, dtype=int)
    right = np.zeros(3000, dtype=bool)
    right[:2700] = True
    low, high = uncertainty.interval(metric, y, with_right_rows(y, right, 10), 10)
    z, p, n = 1.959963984540054, 0.9, 3000
    centre, half = ((p + z * z / (2 * n)) / (1 + z * z / n),
                    z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)))
    assert (low, high) == pytest.approx((centre - half, centre + half), abs=1e-12)

    rng = np.random.default_rng(2)
    covered = 0
    for _ in range(1000):
        low, high = uncertainty.interval(metric, y, with_right_rows(y, rng.random(3000) < 0.9, 10), 10)
        covered += low <= 0.9 <= high
    assert 930 <= covered <= 970


def test_bootstrap_interval_of_macro_f1_covers_the_population_value():
    """1,000 test sets of 150 rows drawn from a known joint distribution of (true, predicted) class:
    the 95% bootstrap interval of macro F1 covers the population's macro F1 in 92-98% of them
    (1,000 resamples each to keep the test quick; the default is 2,000)."""
    joint = np.array([[.25, .05, .03], [.04, .20, .06], [.02, .05, .30]])
    joint /= joint.sum()
    truth = (2 * np.diag(joint) / (joint.sum(axis=0) + joint.sum(axis=1))).mean()
    metric, rng, covered = metrics.get("f1_macro"), np.random.default_rng(5), 0
    for seed in range(1000):
        cells = rng.choice(9, 150, p=joint.ravel())
        low, high = uncertainty.interval(metric, cells // 3, cells % 3, 3, seed=seed, resamples=1000)
        covered += low <= truth <= high
    assert 920 <= covered <= 980


def test_the_same_data_gives_the_same_interval_and_many_entries_each_their_own():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 800)
    entries = [noisy(y, a, 5, rng) for a in (0.9, 0.8, 0.6)]
    metric = metrics.get("f1_macro")
    alone = [uncertainty.interval(metric, y, e, 5) for e in entries]
    assert alone == [uncertainty.interval(metric, y, e, 5) for e in entries]
    np.testing.assert_allclose(uncertainty.intervals(metric, y, entries, 5), alone, rtol=0, atol=1e-12)
    assert alone[0][0] < metric.score(y, entries[0], 5) < alone[0][1]
    wider = uncertainty.interval(metric, y, entries[0], 5, confidence=0.99)
    assert wider[0] < alone[0][0] and wider[1] > alone[0][1]


def test_mcnemar_on_a_hand_made_table():
    """Both right 80, only A right 12, only B right 3, both wrong 5: exact McNemar p is the two-sided
    binomial test of 3 in 15 at one half, as statsmodels computes it."""
    y = np.zeros(100, dtype=int)
    right_a = np.array([True] * 80 + [True] * 12 + [False] * 3 + [False] * 5)
    right_b = np.array([True] * 80 + [False] * 12 + [True] * 3 + [False] * 5)
    result = uncertainty.compare(metrics.get("accuracy"), y, with_right_rows(y, right_a, 10),
                                 with_right_rows(y, right_b, 10), 10)
    assert result.test == "mcnemar"
    assert result.p == pytest.approx(binomtest(3, 15, 0.5).pvalue, abs=1e-12)
    assert result.p == pytest.approx(mcnemar([[80, 12], [3, 5]], exact=True).pvalue, abs=1e-12)
    assert result.difference == pytest.approx(-0.09)
    assert result.low < -0.09 < result.high < 0


def test_the_bootstrap_p_value_is_taken_under_the_null():
    """Four differing rows, all one way: a resample draws them N ~ Poisson(4) times. Moved to the
    null, |N - 4| >= 4 (N = 0 or N >= 8) has probability 0.069, and the four rows are not separated,
    as exact McNemar (p = 0.125) says; the tail beyond zero alone (N = 0, twice) would say 0.037."""
    from scipy.stats import poisson

    drawn = np.random.default_rng(9).poisson(4, 20000)
    p = uncertainty.bootstrap_p(-drawn / 3000, -4 / 3000)
    assert p == pytest.approx(poisson.pmf(0, 4) + poisson.sf(7, 4), abs=0.006) and p > 0.05


def test_identical_predictions_cannot_be_told_apart():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 10, 2000)
    same = noisy(y, 0.85, 10, rng)
    result = uncertainty.compare(metrics.get("f1_macro"), y, same, same.copy(), 10)
    assert (result.difference, result.low, result.high, result.p, result.test) == (0.0, 0.0, 0.0, 1.0, "bootstrap")
    assert not result.separated()


@pytest.mark.parametrize("name", ["accuracy", "f1_macro"])
def test_three_rows_of_seven_thousand_tie_and_five_points_separate(name):
    rng = np.random.default_rng(6)
    y = rng.integers(0, 10, 7000)
    right = rng.random(7000) < 0.88
    best = with_right_rows(y, right, 10)
    near = best.copy()
    flip = np.flatnonzero(right)[:3]
    near[flip] = (y[flip] + 1) % 10
    far = with_right_rows(y, right & (rng.random(7000) > 0.057), 10)  # about 5 points below
    metric = metrics.get(name)
    assert uncertainty.tiers(metric, y, [best, near], 10) == [1, 1]
    assert 0.045 < metric.score(y, best, 10) - metric.score(y, far, 10) < 0.055
    assert uncertainty.tiers(metric, y, [best, far], 10) == [1, 2]


def test_crafted_board_falls_into_the_expected_tiers():
    """Two strong entries 3 rows apart, two weak ones 3 rows apart, 9 points below: tiers 1, 1, 2, 2;
    a lone leader far ahead of a tied pack is tier 1 alone; one entry is tier 1."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 10, 3000)
    strong = rng.random(3000) < 0.9
    weak = strong & (rng.random(3000) < 0.9)
    board = [strong, strong.copy(), weak, weak.copy()]
    board[1][np.flatnonzero(strong)[:3]] = False
    board[3][np.flatnonzero(weak)[:3]] = False
    predictions = [with_right_rows(y, right, 10) for right in board]
    for name in ("accuracy", "mcc"):
        assert uncertainty.tiers(metrics.get(name), y, predictions, 10) == [1, 1, 2, 2]
    assert uncertainty.tiers(metrics.get("accuracy"), y, [predictions[0]] + predictions[2:], 10) == [1, 2, 2]
    assert uncertainty.tiers(metrics.get("accuracy"), y, predictions[:1], 10) == [1]


def test_holm_rejects_what_statsmodels_rejects(monkeypatch):
    """The step-down rule against statsmodels' own, on p-values with ties, exact thresholds, ones and
    zeros, one p-value and none. (statsmodels' garbage collection at every call, the reason for
    ``holm``, is turned off here: 600 calls would take minutes in the suite's process.)"""
    import gc

    from statsmodels.stats.multitest import multipletests

    monkeypatch.setattr(gc, "collect", lambda generation=2: 0)

    rng = np.random.default_rng(11)
    cases = [[], [0.04], [0.06], [0.025, 0.025], [0.01, 0.04, 0.03, 0.05], [0.0125, 0.0125, 0.0125, 0.0125],
             [0.05 / 4, 0.05 / 3, 0.05 / 2, 0.05], [1.0, 0.0, 0.02, 0.0]]
    cases += [list(np.round(rng.random(n) ** 3 / 5, 3)) for n in rng.integers(1, 30, 300)]
    for p in cases:
        for alpha in (0.05, 0.01):
            expected = list(multipletests(p, alpha=alpha, method="holm")[0]) if p else []
            assert uncertainty.holm(p, alpha) == expected, (p, alpha)


def test_tiers_are_holm_corrected():
    """Seven entries each separated from the leader at p about 0.02 on their own: not after Holm's
    correction over the seven (0.02 x 7 > 0.05), so all share tier 1."""
    y = np.zeros(400, dtype=int)
    leader = np.ones(400, dtype=bool)
    behind = leader.copy()
    behind[:7] = False  # 7 discordant rows, all one way: exact p = 2 / 2**7 = 0.0156
    entries = [with_right_rows(y, leader, 10)] + [with_right_rows(y, behind, 10)] * 7
    assert uncertainty.compare(metrics.get("accuracy"), y, entries[0], entries[1], 10).p < 0.05
    assert uncertainty.tiers(metrics.get("accuracy"), y, entries, 10) == [1] * 8
    assert uncertainty.tiers(metrics.get("accuracy"), y, entries[:2], 10) == [1, 2]


def test_shakeup_by_hand():
    """Public 1 2 3 4, private 3 1 2 4: Spearman 1 - 6*6/60 = 0.4, Kendall (4 - 2)/6, mean move
    4/4 over N=4 = 0.25; the best 10% (at least one) is the private #1, who moved one place (the
    public #1 moved two)."""
    answer = uncertainty.shakeup([1, 2, 3, 4], [3, 1, 2, 4])
    assert answer == pytest.approx({"spearman": 0.4, "kendall": 2 / 6, "shakeup": 0.25, "shakeup_top10": 0.25})
    assert uncertainty.shakeup([1], [1]) == {"spearman": None, "kendall": None, "shakeup": 0.0, "shakeup_top10": 0.0}
    twenty = uncertainty.shakeup(list(range(1, 21)), [2, 1] + list(range(3, 21)))
    assert twenty["shakeup_top10"] == pytest.approx((1 / 20 + 1 / 20) / 2)


def test_p_first_shares_rank_one():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 10, 2000)
    right = rng.random(2000) < 0.9
    clear = with_right_rows(y, right, 10)
    twin = clear.copy()
    poor = with_right_rows(y, right & (rng.random(2000) < 0.8), 10)
    chances = uncertainty.p_first(metrics.get("f1_macro"), y, [clear, twin, poor], 10)
    assert chances == pytest.approx([0.5, 0.5, 0.0])
    proba = np.eye(10)[y] * 0.5 + 0.05
    chances = uncertainty.p_first(metrics.get("log_loss"), y, [proba, np.full((2000, 10), 0.1)], 10)
    assert chances == [1.0, 0.0]  # the lower loss is first
