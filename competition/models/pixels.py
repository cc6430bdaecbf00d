"""scikit-learn, XGBoost and LightGBM classifiers on images, as scikit-learn estimators.

Each wraps an ordinary estimator (``estimator``) and feeds it the image's pixels as one row of
floats in [0, 1]. Labels of any type are encoded to 0..K-1 for the library and decoded on the
way out; ``classes_`` holds them sorted, the column order of ``predict_proba``. Parameters of the
wrapped estimator are set the scikit-learn way, ``set_params(estimator__max_depth=8)``.

The boosted ones stop early on an inner validation split, stratified, taken from the rows they
are given: in cross-validation that is the fold's training rows, never the held-out fold.
"""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split


def flatten_pixels(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) uint8 -> (N, H*W*C) float32 in [0, 1]."""
    return np.asarray(x, dtype=np.float32).reshape(len(x), -1) / 255.0


def inner_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices for training and for early-stopping validation, stratified when every class
    has two rows or more."""
    rows = np.arange(len(y))
    _, counts = np.unique(y, return_counts=True)
    stratify = y if counts.min() >= 2 and round(fraction * len(y)) >= len(counts) else None
    train, valid = train_test_split(rows, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(valid)


class PixelClassifier(ClassifierMixin, BaseEstimator):
    """Any scikit-learn classifier on flattened pixels."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y):
        self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
        self.estimator_ = clone(self.estimator)
        self._fit_estimator(flatten_pixels(X), encoded)
        return self

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray) -> None:
        self.estimator_.fit(x, y)

    def predict_proba(self, X) -> np.ndarray:
        """(N, len(classes_)) probabilities, columns in ``classes_`` order."""
        return self.estimator_.predict_proba(flatten_pixels(X))

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class BoostedPixelClassifier(PixelClassifier):
    """A gradient-boosting classifier that stops early on an inner validation split.

    After ``fit``: ``best_iteration_`` (rounds kept) and ``history_`` (validation log loss per round).
    """

    def __init__(self, estimator=None, validation_fraction=0.1, early_stopping_rounds=20, random_state=87):
        super().__init__(estimator)
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray) -> None:
        train, valid = inner_split(y, self.validation_fraction, self.random_state)
        self._fit_with_validation(x[train], y[train], x[valid], y[valid])


class XGBPixelClassifier(BoostedPixelClassifier):
    def _fit_with_validation(self, x, y, x_valid, y_valid) -> None:
        self.estimator_.set_params(early_stopping_rounds=self.early_stopping_rounds)
        self.estimator_.fit(x, y, eval_set=[(x_valid, y_valid)], verbose=False)
        self.best_iteration_ = int(self.estimator_.best_iteration) + 1
        losses = self.estimator_.evals_result()["validation_0"]  # mlogloss, or logloss for 2 classes
        self.history_ = {"val_loss": list(next(iter(losses.values())))}


class LGBMPixelClassifier(BoostedPixelClassifier):
    def _fit_with_validation(self, x, y, x_valid, y_valid) -> None:
        import lightgbm

        record: dict = {}
        fit_parameters = inspect.signature(self.estimator_.fit).parameters
        valid = {"eval_X": x_valid, "eval_y": y_valid} if "eval_X" in fit_parameters else {"eval_set": [(x_valid, y_valid)]}
        self.estimator_.fit(x, y, **valid, callbacks=[
            lightgbm.early_stopping(self.early_stopping_rounds, verbose=False), lightgbm.record_evaluation(record)])
        self.best_iteration_ = int(self.estimator_.best_iteration_ or self.estimator_.n_estimators)
        self.history_ = {"val_loss": list(next(iter(record["valid_0"].values())))}  # multi_ or binary_logloss
