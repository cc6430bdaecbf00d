"""The model zoo: a registry of names -> factories with defaults.

    from competition.models import make_model, MODELS
    model = make_model("xgb", n_estimators=300)    # a scikit-learn estimator
    model.fit(x_train, y_train).predict_proba(x_test)

Every model takes images ``(N, H, W, C)`` uint8 (also ``(N, H, W)``, or rows ``(N, n_features)``;
see ``pixels``) and labels of any type, and passes scikit-learn's ``check_estimator``. Parameters
are set by their plain name (``max_depth``) whether they belong to the wrapper or to the library
estimator it wraps (``estimator__max_depth``); an unknown name or an impossible value raises
``ParameterError`` at once. Heavy libraries are imported only when their model is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .. import cli, extras
from ..errors import InputWarning, ParameterError
from . import spaces
from .backend import default_keras_backend

if TYPE_CHECKING:  # scikit-learn is imported when a model is built, not when a command reads its options
    from sklearn.base import BaseEstimator


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[], BaseEstimator]  # returns the model with its default parameters
    summary: str
    keras: bool = False  # trained by Keras: its backend is part of what a run must match
    needs: tuple[str, ...] = ()  # optional libraries it trains with (``extras.LIBRARIES``), Keras' backend aside
    # What ``competition.tune`` varies: parameter name -> range (``spaces``); None: not tunable
    space: Mapping[str, Any] | None = None


def _dt():
    from sklearn.tree import DecisionTreeClassifier

    from .pixels import PixelClassifier

    return PixelClassifier(DecisionTreeClassifier(random_state=87))


def _rf():
    from sklearn.ensemble import RandomForestClassifier

    from .pixels import PixelClassifier

    return PixelClassifier(RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=87))


def _logreg():
    from sklearn.linear_model import LogisticRegression

    from .pixels import PixelClassifier

    return PixelClassifier(LogisticRegression(C=0.1, max_iter=300, tol=1e-3))


def _xgb():
    from xgboost import XGBClassifier

    from .pixels import XGBPixelClassifier

    return XGBPixelClassifier(XGBClassifier(n_estimators=400, learning_rate=0.15, max_depth=6, max_bin=64,
                                            subsample=0.8, colsample_bytree=0.5, tree_method="hist",
                                            n_jobs=-1, random_state=87))


def _lgbm():
    from lightgbm import LGBMClassifier

    from .pixels import LGBMPixelClassifier

    return LGBMPixelClassifier(LGBMClassifier(n_estimators=400, learning_rate=0.1, num_leaves=31, max_bin=63,
                                              subsample=0.8, subsample_freq=1, colsample_bytree=0.5,
                                              n_jobs=-1, random_state=87, verbose=-1))


def _network(name: str, **defaults: Any) -> Callable[[], BaseEstimator]:
    """A factory for the network class ``name`` of ``networks``, with ``defaults`` of its own."""

    def build():
        from . import networks

        return getattr(networks, name)(**defaults)

    return build


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in [
    ModelSpec("logreg", _logreg, "logistic regression on pixels: the quick linear baseline", space=spaces.LINEAR),
    ModelSpec("dt", _dt, "a decision tree on pixels (the blog's recipe, random_state 87)", space=spaces.TREE),
    ModelSpec("rf", _rf, "a random forest of 100 trees on pixels (the blog's recipe)", space=spaces.FOREST),
    ModelSpec("xgb", _xgb, "XGBoost, hist trees, early stopping on an inner split", needs=("xgboost",),
              space=spaces.XGB),
    ModelSpec("lgbm", _lgbm, "LightGBM, early stopping on an inner split", needs=("lightgbm",), space=spaces.LGBM),
    ModelSpec("mlp", _network("MLP"), "an MLP with batch norm and dropout (Keras)", keras=True, space=spaces.MLP),
    # the blog's recipes are kept as published: no search space
    ModelSpec("mlp-blog", _network("BlogMLP"), "the blog's MLP: Dense 1000-800-500-300-200-100-50, dropout 0.2",
              keras=True),
    ModelSpec("cnn", _network("CNN"), "a 3-stage 3x3 CNN with batch norm, label smoothing and a cosine "
              "schedule of 7 epochs, more on few images (Keras)", keras=True, space=spaces.CNN),
    # the default's network on 5 epochs: on fold 0 its 4 epochs ran at 1.54x the samples a second of
    # the earlier network's (two convs at full size) and scored 0.9249 against 0.9260; the fifth
    # epoch keeps the 5-fold score at or above the earlier cnn-quick's 0.927
    ModelSpec("cnn-quick", _network("CNN", epochs=5, flip_tta=False),
              "the cnn on 5 epochs: a first look at large data in minutes "
              "(on a few hundred images, use cnn)", keras=True, space=spaces.CNN_QUICK),
    ModelSpec("cnn-blog", _network("BlogCNN"), "the blog's CNN: 4 conv blocks 64/64/128/128 + Dense 1024-512-256",
              keras=True),
]}


# Old names of the blog's recipes, read for one release more: ``--seed`` and ``--seeds`` mean the
# random seeds, so a model called ``*-seed`` read as one of them.
RENAMED = {"mlp-seed": "mlp-blog", "cnn-seed": "cnn-blog"}


def model_name(name: str) -> str:
    """A model's name as the registry holds it: an old name (``RENAMED``) becomes its new one, with
    a warning saying so (an argparse ``type`` for ``--model``, applied before its ``choices``)."""
    if name in RENAMED:
        import warnings

        warnings.warn(f"model {name} is now called {RENAMED[name]}; the old name will be refused from the next "
                      "release", InputWarning, stacklevel=2)
        return RENAMED[name]
    return name


def keras_backend(model: str) -> str | None:
    """The Keras backend a run of ``model`` uses (``default_keras_backend``), or None for a model
    Keras does not train."""
    if not MODELS[model].keras:
        return None
    return default_keras_backend()


def requirements(name: str) -> tuple[str, ...]:
    """The optional libraries model ``name`` needs: its own, and Keras with its backend for a network."""
    spec = MODELS[name]
    if not spec.keras:
        return spec.needs
    backend = default_keras_backend()  # one Keras does not name here (KERAS_BACKEND=openvino) is Keras' to report
    return spec.needs + ("keras",) + ((backend,) if backend in extras.LIBRARIES else ())


def missing(name: str) -> list[str]:
    """The libraries model ``name`` needs that are not installed (``cv --list`` marks them)."""
    return [module for module in requirements(name) if not extras.installed(module)]


def resolve_params(model: BaseEstimator, overrides: dict[str, Any]) -> dict[str, Any]:
    """Map plain names to ``set_params`` keys: ``max_depth`` -> ``estimator__max_depth`` when the
    wrapper itself has no such parameter. Unknown names raise ``ParameterError`` listing the valid ones."""
    params = model.get_params(deep=True)
    resolved = {}
    for name, value in overrides.items():
        key = name if name in params else f"estimator__{name}"
        if key not in params:
            valid = sorted(k.removeprefix("estimator__") for k in params if k != "estimator")
            raise ParameterError(f"unknown parameter {name!r} for this model; valid: {', '.join(valid)}")
        resolved[key] = value
    return resolved


def make_model(name: str, **overrides: Any) -> BaseEstimator:
    """A fresh model ``name`` with its defaults, updated by ``overrides``. Impossible values are
    refused here (``ParameterError``), before any data is read, not when the first fold trains."""
    name = model_name(name)
    if name not in MODELS:
        raise ParameterError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    extras.ensure(requirements(name), f"the model {name!r}")
    model = MODELS[name].build()
    model.set_params(**resolve_params(model, overrides))
    model._validate_params()  # scikit-learn's hook, which our models answer with ParameterError
    return model


def seed_keys(model: BaseEstimator) -> list[str]:
    """The ``set_params`` keys of every seed ``model`` holds (the wrapper's inner split and the
    library's own ``random_state``); None seeds are left out: they draw a new seed on every fit."""
    return [key for key, value in model.get_params(deep=True).items()
            if key.split("__")[-1] == "random_state" and isinstance(value, int)]


def check_seeds(name: str, model: BaseEstimator, seeds: int) -> None:
    """``--seeds N`` averages N models that differ only in their seeds: refused for a model that
    has none to vary, which would train the same model N times."""
    if seeds > 1 and not seed_keys(model):
        raise ParameterError(f"--seeds {seeds}: model {name} has no seed to vary (no random_state), so every "
                             "seed would train the same model; use --seeds 1")


def reseeded(model: BaseEstimator, offset: int) -> BaseEstimator:
    """A copy of ``model`` with every seed moved by ``offset``: member ``offset`` of a seed average
    (offset 0 is the model itself, so one seed is exactly the plain run)."""
    from sklearn.base import clone

    model = clone(model)
    params = model.get_params(deep=True)
    return model.set_params(**{key: cli.wrap_seed(params[key] + offset) for key in seed_keys(model)})


def public_params(model: BaseEstimator) -> dict[str, Any]:
    """The model's parameters by plain name, JSON-friendly: what ``config.json`` and ``--list`` show."""
    params = model.get_params(deep=True)
    shown = {}
    for key, value in params.items():
        if key == "estimator" or (key.startswith("estimator__") and key.removeprefix("estimator__") in params):
            continue  # the wrapper's own parameter of that name wins, as in resolve_params
        if isinstance(value, tuple):
            value = list(value)
        if value is None or isinstance(value, (bool, int, float, str, list)):
            shown[key.removeprefix("estimator__")] = value
    return shown
