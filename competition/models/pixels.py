"""scikit-learn, XGBoost and LightGBM classifiers on images, as scikit-learn estimators.

Each wraps an ordinary estimator (``estimator``) and feeds it the image's pixels as one row of
floats. Labels of any type are encoded to 0..K-1 for the library and decoded on the way out;
``classes_`` holds them sorted, the column order of ``predict_proba``. Parameters of the wrapped
estimator are set the scikit-learn way, ``set_params(estimator__max_depth=8)``.

What every model here and in ``networks`` shares lives in ``ImageClassifier``:

* Input: images ``(N, H, W, C)`` or ``(N, H, W)``, or rows ``(N, n_features)``, as arrays or
  array-likes (lists, DataFrames); sparse matrices, NaN, infinity and complex numbers are refused
  with scikit-learn's own messages. Predicting needs samples of the shape seen in ``fit``.
* Scaling (``scale_pixels``): uint8 is read as pixel intensities and divided by 255, as every
  recipe does; any other dtype is taken as features already on a sensible scale and only cast to
  float32 (the estimator checks' data, for instance, is standardised and negative).
* After ``fit``: ``image_shape_`` (one sample's shape) and ``n_features_in_`` (its number of
  values, what a flat model sees; for rows that is scikit-learn's usual ``X.shape[1]``).
* Parameters are checked against ``_parameter_constraints`` (scikit-learn's machinery) before
  training, and by ``make_model`` before anything runs; an impossible value raises
  ``ParameterError``, which names the parameter, the value and what is allowed.

The boosted ones stop early on an inner validation split, stratified, taken from the rows they
are given: in cross-validation that is the fold's training rows, never the held-out fold.
"""

from __future__ import annotations

import inspect
import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import (HasMethods, Interval, InvalidParameterError, StrOptions,
                                             validate_parameter_constraints)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..cli import MAX_SEED
from ..errors import ParameterError

# Constraints shared by several parameters (scikit-learn's ``_param_validation``).
POSITIVE_INT = Interval(Integral, 1, None, closed="left")
NON_NEGATIVE_INT = Interval(Integral, 0, None, closed="left")
NON_NEGATIVE = Interval(Real, 0, None, closed="left")
POSITIVE = Interval(Real, 0, None, closed="neither")
RATE = Interval(Real, 0, 1, closed="left")  # a share that may be none but not all (dropout, held-out rows)
SHARE = Interval(Real, 0, 1, closed="right")  # a sampling share: (0, 1]
SEED = Interval(Integral, 0, MAX_SEED, closed="both")  # what NumPy and Keras take as a seed (``cli``)
MAX_IMAGE_DIMS = 4  # (N, H, W, C)


class EstimatorParameterError(ParameterError, InvalidParameterError):
    """A parameter value a model refuses: our one-line error, and scikit-learn's own kind, which its
    tools (``check_estimator``, ``GridSearchCV``) expect. Here, where scikit-learn is loaded anyway."""


def scale_pixels(x: np.ndarray) -> np.ndarray:
    """float32 values for the models: uint8 pixels / 255, any other dtype as given.

    uint8 is what the loader gives and what every recipe divides by 255; other dtypes come from
    callers who scaled their features themselves (the estimator checks pass standardised floats),
    and dividing those by 255 would squash them towards 0."""
    values = np.asarray(x, dtype=np.float32)
    return values / 255.0 if x.dtype == np.uint8 else values


def flatten(x: np.ndarray) -> np.ndarray:
    """(N, ...) -> (N, values per sample): the row a tabular estimator sees."""
    return x.reshape(len(x), -1)


def inner_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices for training and for early-stopping validation, stratified when every class
    has two rows or more."""
    rows = np.arange(len(y))
    _, counts = np.unique(y, return_counts=True)
    stratify = y if counts.min() >= 2 and round(fraction * len(y)) >= len(counts) else None
    train, valid = train_test_split(rows, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(valid)


def shape_text(shape: tuple) -> str:
    """``(28, 28, 1)`` -> ``"(n_samples, 28, 28, 1)"``: the shape X must have."""
    return "(" + ", ".join(["n_samples", *map(str, shape)]) + ")"


class ImageClassifier(ClassifierMixin, BaseEstimator):
    """The contract every model keeps: input validation, parameter validation, ``predict``.

    Subclasses call ``_fit_inputs`` at the start of ``fit`` and ``_predict_inputs`` at the start
    of ``predict_proba``; both return scaled float32 arrays of the caller's shape."""

    _parameter_constraints: dict = {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # images (N, H, W[, C]) are the usual input, rows (N, F) work too
        return tags

    def _validate_params(self) -> None:
        """scikit-learn's parameter validation, its error turned into ours (an
        ``EstimatorParameterError``: still an ``InvalidParameterError``, so scikit-learn's tools see
        what they expect)."""
        try:
            super()._validate_params()
            self._validate_more_params()
        except (InvalidParameterError, ParameterError) as error:
            raise EstimatorParameterError(str(error)) from None

    def _validate_more_params(self) -> None:
        """Parameters the class's own constraints cannot reach (a wrapped estimator's)."""

    def refit_params(self, best_iteration: int | None) -> dict:
        """``set_params`` overrides that train this model on every row given, for
        ``best_iteration`` rounds or epochs (what the folds' early stopping found, averaged): a
        refit has no rows left to stop on. Models trained for a fixed length need none."""
        return {}

    def _fit_inputs(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """Validate ``X`` and ``y`` for ``fit``: sets ``classes_``, ``image_shape_`` and
        ``n_features_in_``; returns the scaled samples and the labels encoded 0..K-1."""
        self._validate_params()
        X, y = validate_data(self, X, y, allow_nd=True, dtype="numeric")
        check_classification_targets(y)
        if X.ndim > MAX_IMAGE_DIMS:
            raise ValueError(f"X must be (n_samples, n_features), (n_samples, height, width) or "
                             f"(n_samples, height, width, channels); got shape {X.shape}")
        self.image_shape_ = X.shape[1:]
        self.n_features_in_ = math.prod(self.image_shape_)  # validate_data set X.shape[1]: an image's height
        self.classes_, encoded = np.unique(y, return_inverse=True)
        return scale_pixels(X), encoded

    def _predict_inputs(self, X) -> np.ndarray:
        """Validate ``X`` for prediction: fitted, and samples of the shape seen in ``fit``."""
        check_is_fitted(self)
        # ensure_2d=False: scikit-learn would compare X.shape[1] alone; the whole shape is compared below
        X = validate_data(self, X, reset=False, allow_nd=True, dtype="numeric", ensure_2d=False)
        if X.shape[1:] != self.image_shape_:
            raise ValueError(f"X has {math.prod(X.shape[1:])} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input, as samples of shape {self.image_shape_}; "
                             f"X's samples have shape {X.shape[1:]}. Reshape your data to "
                             f"{shape_text(self.image_shape_)}.")
        return scale_pixels(X)

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # first: it refuses an unfitted model before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]


class PixelClassifier(ImageClassifier):
    """Any scikit-learn classifier on flattened pixels."""

    _parameter_constraints = {"estimator": [HasMethods(["fit", "predict_proba"])]}
    # Constraints on the wrapped estimator's parameters, for libraries that declare none of their
    # own (XGBoost, LightGBM); scikit-learn's estimators validate themselves.
    estimator_constraints: dict = {}

    def __init__(self, estimator=None):
        self.estimator = estimator

    def _validate_more_params(self) -> None:
        inner = self.estimator
        if hasattr(inner, "_parameter_constraints"):
            inner._validate_params()
        validate_parameter_constraints(self.estimator_constraints, inner.get_params(deep=False),
                                       caller_name=type(inner).__name__)

    def fit(self, X, y):
        x, encoded = self._fit_inputs(X, y)
        self.estimator_ = clone(self.estimator)
        self._fit_estimator(flatten(x), encoded)
        return self

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray) -> None:
        self.estimator_.fit(x, y)

    def predict_proba(self, X) -> np.ndarray:
        """(N, len(classes_)) probabilities, columns in ``classes_`` order."""
        x = flatten(self._predict_inputs(X))  # first: it refuses an unfitted model before estimator_ is read
        return self.estimator_.predict_proba(x)


# The settings XGBoost and LightGBM share, by the same name and meaning.
BOOSTING_CONSTRAINTS = {
    "n_estimators": [POSITIVE_INT],
    "learning_rate": [POSITIVE],
    "subsample": [SHARE],
    "colsample_bytree": [SHARE],
    "min_child_weight": [NON_NEGATIVE],
    "reg_alpha": [NON_NEGATIVE],
    "reg_lambda": [NON_NEGATIVE],
    "max_bin": [Interval(Integral, 2, None, closed="left")],
    "n_jobs": [Integral, None],
    "random_state": ["random_state"],
}


class BoostedPixelClassifier(PixelClassifier):
    """A gradient-boosting classifier that stops early on an inner validation split
    (``validation_fraction`` 0: no split, all ``n_estimators`` rounds on every row).

    After ``fit``: ``best_iteration_`` (rounds kept) and ``history_`` (validation log loss per round).
    """

    _parameter_constraints = {
        **PixelClassifier._parameter_constraints,
        "validation_fraction": [RATE],
        "early_stopping_rounds": [POSITIVE_INT],
        "random_state": [SEED],
    }

    def __init__(self, estimator=None, validation_fraction=0.1, early_stopping_rounds=20, random_state=87):
        super().__init__(estimator)
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray) -> None:
        if not self.validation_fraction:
            self.estimator_.fit(x, y)
            self.best_iteration_ = int(self.estimator_.n_estimators)
            return
        train, valid = inner_split(y, self.validation_fraction, self.random_state)
        self._fit_with_validation(x[train], y[train], x[valid], y[valid])

    def refit_params(self, best_iteration: int | None) -> dict:
        return {"validation_fraction": 0.0, **({"estimator__n_estimators": best_iteration} if best_iteration else {})}


class XGBPixelClassifier(BoostedPixelClassifier):
    # XGBoost's own defaults are None ("the library decides"), so None stays allowed.
    estimator_constraints = {
        **{name: [*rule, None] for name, rule in BOOSTING_CONSTRAINTS.items()},
        "max_depth": [NON_NEGATIVE_INT, None],
        "max_leaves": [NON_NEGATIVE_INT, None],
        "gamma": [NON_NEGATIVE, None],
        "colsample_bylevel": [SHARE, None],
        "colsample_bynode": [SHARE, None],
        "tree_method": [StrOptions({"hist", "approx", "exact", "auto"}), None],
        "grow_policy": [StrOptions({"depthwise", "lossguide"}), None],
    }

    def _fit_with_validation(self, x, y, x_valid, y_valid) -> None:
        self.estimator_.set_params(early_stopping_rounds=self.early_stopping_rounds)
        self.estimator_.fit(x, y, eval_set=[(x_valid, y_valid)], verbose=False)
        self.best_iteration_ = int(self.estimator_.best_iteration) + 1
        losses = self.estimator_.evals_result()["validation_0"]  # mlogloss, or logloss for 2 classes
        self.history_ = {"val_loss": list(next(iter(losses.values())))}


class LGBMPixelClassifier(BoostedPixelClassifier):
    estimator_constraints = {
        **BOOSTING_CONSTRAINTS,
        "max_depth": [Integral],  # 0 or less: no limit
        "num_leaves": [Interval(Integral, 2, 131072, closed="both")],
        "subsample_freq": [NON_NEGATIVE_INT],
        "min_child_samples": [NON_NEGATIVE_INT],
        "min_split_gain": [NON_NEGATIVE],
        "boosting_type": [StrOptions({"gbdt", "dart", "rf"})],
    }

    def _fit_with_validation(self, x, y, x_valid, y_valid) -> None:
        import lightgbm

        record: dict = {}
        fit_parameters = inspect.signature(self.estimator_.fit).parameters
        valid = ({"eval_X": x_valid, "eval_y": y_valid} if "eval_X" in fit_parameters
                 else {"eval_set": [(x_valid, y_valid)]})
        self.estimator_.fit(x, y, **valid, callbacks=[
            lightgbm.early_stopping(self.early_stopping_rounds, verbose=False), lightgbm.record_evaluation(record)])
        self.best_iteration_ = int(self.estimator_.best_iteration_ or self.estimator_.n_estimators)
        self.history_ = {"val_loss": list(next(iter(record["valid_0"].values())))}  # multi_ or binary_logloss
