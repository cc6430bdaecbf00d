"""Every registry model keeps the scikit-learn estimator contract, and refuses impossible parameters.

scikit-learn's own suite (``estimator_checks_generator``, what ``check_estimator`` runs) on every
model, with small settings; no check is expected to fail. A network costs about 1 s of CPU per
fit whatever its size (Keras traces its train, test and predict steps anew for every model, and
traces the train step twice when the optimizer builds inside it), and the suite fits each model
about 60 times: the whole suite on the five networks takes about 9 minutes on two cores. So a
plain run gives every check to every tree model and, in turn, to one of the five networks (check
i to network i mod 5): each check and each network is covered for the price of one network's
suite. ``COMPETITION_ALL_CHECKS=1`` runs every check on every network.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import estimator_checks_generator

from competition.errors import InputError, ParameterError
from competition.models import MODELS, make_model
from tests.helpers import QUICK

NETWORKS = ("mlp", "mlp-blog", "cnn", "cnn-quick", "cnn-blog")
ALL_CHECKS = os.environ.get("COMPETITION_ALL_CHECKS") == "1"

# QUICK's settings, with networks small and quick enough for ~60 fits each that still reach the
# suite's 0.83 training accuracy on its blobs (0.86 or more here, whatever the seed).
SUITE = {
    **QUICK,
    "mlp": {"hidden": (8,), "epochs": 2, "batch_size": 16, "learning_rate": 0.01, "verbose": 0},
    "mlp-blog": {"hidden": (8, 8), "epochs": 2, "batch_size": 16, "learning_rate": 0.01, "verbose": 0},
    "cnn": {"width": 4, "stages": 2, "epochs": 4, "batch_size": 16, "learning_rate": 0.01, "dropout": 0.0,
            "verbose": 0},
    "cnn-quick": {"width": 4, "stages": 2, "batch_size": 16, "learning_rate": 0.01, "dropout": 0.0, "verbose": 0},
    "cnn-blog": {"filters": (4,), "dense": (16,), "dense_dropout": 0.1, "epochs": 3, "batch_size": 16,
                 "learning_rate": 0.01, "verbose": 0},
}


@pytest.fixture(scope="module", autouse=True)
def frozen_heap():
    """Keras' ``clear_session`` (once per network fit) runs a full garbage collection, 0.2 s with
    TensorFlow's objects on the heap; frozen, they are left out of it. Nothing else changes."""
    gc.freeze()
    yield
    gc.unfreeze()


def check_id(name: str, check) -> str:
    """``"cnn-check_classifiers_train(readonly_memmap=True)"``: the model, the check, its variant."""
    func, keywords = check, {}
    while hasattr(func, "func"):  # partials: the model's name bound, then the variant's settings
        keywords = {**func.keywords, **keywords}
        func = func.func
    variant = ",".join(f"{key}={value}" for key, value in keywords.items())
    return f"{name}-{func.__name__}" + (f"({variant})" if variant else "")


def suite_cases():
    """(model, check) for every check of scikit-learn's suite on every model; on the networks one
    check in four per network unless ``COMPETITION_ALL_CHECKS=1`` (see the module docstring)."""
    for name in MODELS:
        checks = estimator_checks_generator(make_model(name, **SUITE[name]), legacy=True)
        for index, (estimator, check) in enumerate(checks):
            if ALL_CHECKS or name not in NETWORKS or index % len(NETWORKS) == NETWORKS.index(name):
                yield pytest.param(estimator, check, id=check_id(name, check))


def test_suite_settings_cover_every_model():
    assert set(SUITE) == set(MODELS)


# A network fitted on one class (check_classifiers_one_label) has a softmax of one unit, as it should.
@pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1 of a tensor of shape:UserWarning")
@pytest.mark.parametrize("estimator,check", list(suite_cases()))
def test_scikit_learn_check(estimator, check):
    check(estimator)


IMPOSSIBLE = [  # model, parameter, value, what the message says is allowed
    ("mlp", "epochs", -1, "range [1, inf)"),
    ("mlp", "batch_size", 0, "range [1, inf)"),
    ("mlp", "dropout", 1.5, "range [0.0, 1.0)"),
    ("mlp", "learning_rate", 0.0, "range (0.0, inf)"),
    ("mlp", "validation_fraction", 1.0, "range [0.0, 1.0)"),
    ("mlp-blog", "hidden", (64, 0), "a tuple of ints >= 1"),
    ("mlp-blog", "patience", -3, "range [0, inf)"),
    ("cnn", "width", 0, "range [1, inf)"),
    ("cnn", "shift", -2, "range [0, inf)"),
    ("cnn", "first_convs", 0, "range [1, inf) or None"),
    ("cnn", "erase", 1.5, "range [0.0, 1.0]"),
    ("cnn", "time_budget", 0, "range (0.0, inf) or None"),
    ("cnn", "label_smoothing", 1.0, "range [0.0, 1.0)"),
    ("cnn", "random_state", -1, "range [0, 4294967295]"),
    ("cnn-blog", "filters", (8, -8), "a tuple of ints >= 1"),
    ("cnn-blog", "dense_dropout", 1.0, "range [0.0, 1.0)"),
    ("dt", "max_depth", -1, "range [1, inf)"),
    ("rf", "n_estimators", 0, "range [1, inf)"),
    ("logreg", "C", -1.0, "range (0.0, inf]"),
    ("xgb", "validation_fraction", 1, "range [0.0, 1.0)"),
    ("xgb", "early_stopping_rounds", 0, "range [1, inf)"),
    ("xgb", "n_estimators", 0, "range [1, inf)"),
    ("xgb", "max_depth", -1, "range [0, inf)"),
    ("xgb", "subsample", 1.5, "range (0.0, 1.0]"),
    ("lgbm", "n_estimators", 0, "range [1, inf)"),
    ("lgbm", "num_leaves", 1, "range [2, 131072]"),
    ("lgbm", "learning_rate", -0.1, "range (0.0, inf)"),
]


@pytest.mark.parametrize("model,param,value,allowed", IMPOSSIBLE, ids=[f"{m}-{p}" for m, p, *_ in IMPOSSIBLE])
def test_make_model_refuses_an_impossible_value(model, param, value, allowed):
    with pytest.raises(ParameterError) as refused:
        make_model(model, **{param: value})
    message = str(refused.value)
    assert "\n" not in message and f"{param!r}" in message and f"Got {value!r}" in message and allowed in message
    assert isinstance(refused.value, InputError) and isinstance(refused.value, InvalidParameterError)


@pytest.mark.parametrize("model,param,value,allowed", IMPOSSIBLE[::4], ids=[f"{m}-{p}" for m, p, *_ in IMPOSSIBLE[::4]])
def test_fit_refuses_an_impossible_value_set_later(model, param, value, allowed):
    estimator = make_model(model, **SUITE[model])
    params = {param if param in estimator.get_params(deep=False) else f"estimator__{param}": value}
    with pytest.raises(ParameterError) as refused:
        estimator.set_params(**params).fit(np.zeros((20, 4, 4, 1), np.uint8), np.arange(20) % 2)
    assert f"{param!r}" in str(refused.value) and allowed in str(refused.value)
    assert not hasattr(estimator, "classes_")


@pytest.mark.parametrize("model", list(MODELS))
def test_defaults_and_quick_settings_are_valid(model):
    make_model(model)
    make_model(model, **QUICK[model])


def test_parameter_error_is_made_once_on_first_use_and_crosses_processes():
    """``competition.errors`` loads without scikit-learn; its ``ParameterError`` is one class, the one
    ``models`` raises, and comes back whole from a worker process (pickled by name)."""
    code = ("import pickle, sys; import competition.errors as e; assert 'sklearn' not in sys.modules; "
            "from competition.models import make_model; from competition.models.pixels import ParameterError; "
            "assert ParameterError is e.ParameterError; "
            "assert type(pickle.loads(pickle.dumps(e.ParameterError('x')))) is e.ParameterError")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_unknown_names_are_parameter_errors():
    with pytest.raises(ParameterError, match="unknown parameter 'depth'.*max_depth"):
        make_model("dt", depth=3)
    with pytest.raises(ParameterError, match="unknown model 'svm'"):
        make_model("svm")


def images(n: int, shape: tuple, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images whose label is their mean brightness, above or below the middle."""
    x = np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    return x, np.where(x.reshape(n, -1).mean(axis=1) > 127.5, "bright", "dark")


@pytest.mark.parametrize("model", ["dt", "mlp", "cnn"])
def test_images_of_another_shape_are_refused_naming_both_shapes(model):
    x, y = images(40, (6, 6, 3))
    estimator = make_model(model, **SUITE[model]).fit(x, y)
    assert estimator.image_shape_ == (6, 6, 3) and estimator.n_features_in_ == 108
    with pytest.raises(ValueError, match=r"samples of shape \(6, 6, 3\); X's samples have shape \(6, 6, 1\)"):
        estimator.predict(images(5, (6, 6, 1))[0])
    with pytest.raises(ValueError, match=r"expecting 108 features.*shape \(18, 6\)"):
        estimator.predict_proba(images(5, (18, 6))[0])


@pytest.mark.parametrize("model", ["dt", "cnn"])
def test_grey_images_without_a_channel_axis_are_accepted(model):
    x, y = images(40, (6, 6))
    estimator = make_model(model, **SUITE[model]).fit(x, y)
    assert estimator.predict(x[:5]).shape == (5,) and estimator.n_features_in_ == 36


def test_arrays_of_more_than_four_dimensions_are_refused():
    x, y = images(10, (4, 4, 1, 2))
    with pytest.raises(ValueError, match=r"X must be \(n_samples, n_features\).*got shape \(10, 4, 4, 1, 2\)"):
        make_model("dt").fit(x, y)


@pytest.mark.parametrize("model", ["logreg", "mlp"])
def test_uint8_pixels_are_scaled_and_other_dtypes_are_taken_as_given(model):
    x, y = images(40, (4, 4, 1))
    scaled = x.astype(np.float32) / 255
    from_pixels = make_model(model, **SUITE[model]).fit(x, y).predict_proba(x)
    from_floats = make_model(model, **SUITE[model]).fit(scaled, y).predict_proba(scaled)
    np.testing.assert_array_equal(from_pixels, from_floats)


def test_predict_before_fit_and_nan_pixels_are_refused():
    x, y = images(20, (4, 4, 1))
    with pytest.raises(NotFittedError):
        make_model("dt").predict(x)
    broken = x.astype(np.float32)
    broken[3, 1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        make_model("dt").fit(broken, y)
