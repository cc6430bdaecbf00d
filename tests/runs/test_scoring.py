"""scoring: a fold's scores and a run's summary, computed as the grader computes its metrics."""

from __future__ import annotations

import math

import numpy as np

from competition.data import metrics
from competition.runs import scoring
from competition.runs.records import FoldResult, RefitResult

# 4 rows of 3 classes: a sure hit, a sure miss (probability 0 on the truth), two hedges
Y = np.array([0, 1, 2, 2])
PROBA = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])


def test_a_folds_log_loss_is_the_graders_and_a_sure_miss_keeps_it_finite():
    scores = scoring.score_fold(0, Y, PROBA, train_rows=8, fit_seconds=1.23456)
    assert scores["log_loss"] == metrics.get("log_loss").from_probabilities(Y, PROBA)
    assert math.isfinite(scores["log_loss"]) and scores["log_loss"] > 34 / 4  # -log(1e-15) ~ 34.5 for the miss
    assert scores["accuracy"] == 0.5 and scores["rows"] == 4 and scores["fit_seconds"] == 1.235


def test_a_summary_puts_each_fold_on_its_rows_and_a_refit_replaces_the_test_probabilities():
    folds = [FoldResult(k, np.array([2 * k, 2 * k + 1]), PROBA[2 * k: 2 * k + 2], np.full((1, 3), 1 / 3),
                        scoring.score_fold(k, Y[2 * k: 2 * k + 2], PROBA[2 * k: 2 * k + 2], train_rows=2))
             for k in range(2)]
    y = np.append(Y, 0)  # a fifth row left out of the folds
    oof, test, scores = scoring.summarise(folds, y, 3, metric="log_loss")
    assert np.array_equal(oof[:4], PROBA) and np.isnan(oof[4]).all()
    assert scores["oof_accuracy"] == 0.5 and scores["oof_rows"] == 4 and scores["accuracy_mean"] == 0.5
    assert scores["oof_log_loss"] == scores["oof_score"] == metrics.get("log_loss").from_probabilities(Y, PROBA)
    assert scores["fold_scores"] == [f.scores["log_loss"] for f in folds]
    refit = RefitResult(np.array([[0.0, 0.0, 1.0]]), {"fit_seconds": 2.0, "predict_seconds": 0.5})
    _, refitted, with_refit = scoring.summarise(folds, y, 3, refit)
    assert np.array_equal(refitted, refit.test_proba) and with_refit["fit_seconds"] == scores["fit_seconds"] + 2.0
