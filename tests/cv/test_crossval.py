"""``crossval.cross_validate`` in memory, against a naive fold loop, as scikit-learn tests its own:
a 30-row array, a plain scikit-learn estimator, no files."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.linear_model import LogisticRegression

from competition.cv import crossval
from competition.cv.folds import make_folds


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["x", "y", "z"]), 10)
    x = rng.normal(size=(30, 4)) + (y == "y")[:, None] * 1.5 - (y == "z")[:, None] * 1.5
    return x, y, rng.normal(size=(5, 4))


def naive(x, y, x_test, folds):
    """Each fold by hand: fit on the others, predict the held-out rows and the test set."""
    classes = np.unique(y)
    oof, tests, accuracy = np.full((len(y), len(classes)), np.nan), [], []
    for fold in range(folds.max() + 1):
        train, held = np.flatnonzero((folds != fold) & (folds >= 0)), np.flatnonzero(folds == fold)
        model = LogisticRegression(max_iter=500).fit(x[train], y[train])
        oof[held] = model.predict_proba(x[held])
        tests.append(model.predict_proba(x_test))
        accuracy.append(np.mean(classes[oof[held].argmax(axis=1)] == y[held]))
    return oof, np.mean(tests, axis=0), accuracy


def test_cross_validate_is_the_naive_fold_loop():
    x, y, x_test = data()
    folds = make_folds(y, 3, 87)
    result = crossval.cross_validate(LogisticRegression(max_iter=500), x, y, x_test, folds)
    oof, test, accuracy = naive(x, y, x_test, folds)
    np.testing.assert_allclose(result.oof, oof, atol=1e-9)
    np.testing.assert_allclose(result.test, test, atol=1e-9)
    assert [fold.scores["accuracy"] for fold in result.folds] == accuracy
    assert result.scores["accuracy_mean"] == np.mean(accuracy)


def test_an_executor_and_resumed_folds_give_the_same_result():
    x, y, x_test = data(1)
    folds = make_folds(y, 3, 5)
    here = crossval.cross_validate(LogisticRegression(max_iter=500), x, y, x_test, folds)
    seen = []
    with ThreadPoolExecutor(2) as pool:
        there = crossval.cross_validate(LogisticRegression(max_iter=500), x, y, x_test, folds, executor=pool,
                                        on_fold=seen.append, done=here.folds[:1])
    assert sorted(fold.fold for fold in seen) == [1, 2]  # fold 0 was done: not computed again
    np.testing.assert_allclose(there.oof, here.oof, atol=1e-9)
    np.testing.assert_allclose(there.test, here.test, atol=1e-9)
