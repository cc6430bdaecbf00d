"""The optional libraries, which extra of ``pyproject.toml`` installs each, and one way to import one.

The base install loads, checks, prepares, validates, grades, draws and trains the scikit-learn
models; each other role adds an extra (``pip install 'competition[gbdt]'``). A command or a model
that needs a library the install lacks stops with one line saying what to install, before any work
starts, instead of a traceback (or, worse, after a 20-minute cross-validation):

    xgboost = extras.require("xgboost", "the model 'xgb'")
    # error: the model 'xgb' needs XGBoost: pip install 'competition[gbdt]'
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import InputError

# module -> (the library's name, what installs it); pyproject.toml's extras hold the same libraries
LIBRARIES: dict[str, tuple[str, str]] = {
    "xgboost": ("XGBoost", "'competition[gbdt]'"),
    "lightgbm": ("LightGBM", "'competition[gbdt]'"),
    "keras": ("Keras", "'competition[keras]'"),
    "tensorflow": ("TensorFlow", "'competition[keras]'"),
    "jax": ("JAX (KERAS_BACKEND=jax)", "jax"),
    "torch": ("PyTorch (KERAS_BACKEND=torch)", "torch"),
    "distributed": ("Dask", "'competition[dask]'"),
    "optuna": ("Optuna", "'competition[tune]'"),
    "mlflow": ("MLflow", "'competition[tracking]'"),
    "fastapi": ("FastAPI", "'competition[server]'"),
    "uvicorn": ("Uvicorn", "'competition[server]'"),
    "jinja2": ("Jinja2", "'competition[server]'"),
    "markdown_it": ("markdown-it-py", "'competition[server]'"),
    "httpx": ("httpx", "'competition[client]'"),
    "kaggle": ("the official Kaggle package", "'competition[kaggle]'"),
}


class MissingExtra(InputError):
    """An optional library this install lacks; the one line says what needs it and what to install."""


def missing_message(module: str, what: str) -> str:
    """``WHAT needs LIBRARY: pip install ...``: the line a missing ``module`` is reported with."""
    name, install = LIBRARIES[module]
    return f"{what} needs {name}: pip install {install}"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here, found without importing it (``cv --list`` asks for
    every model; importing TensorFlow to answer would take seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # its parent package missing; set to None in sys.modules
        return False


def ensure(modules: tuple[str, ...] | list[str], what: str) -> None:
    """``MissingExtra`` for the first of ``modules`` (keys of ``LIBRARIES``) not installed, without
    importing any: a model checks its libraries before data is read, and Keras must not be imported
    before its backend is chosen (``models.networks``), nor TensorFlow's seconds spent on a check."""
    for module in modules:
        if not installed(module):
            raise MissingExtra(missing_message(module, what))


def require(module: str, what: str) -> ModuleType:
    """The module ``module`` (a key of ``LIBRARIES``), or ``MissingExtra``: ``WHAT needs LIBRARY: pip
    install 'competition[EXTRA]'``. A library that is there but fails inside (one of its own
    dependencies missing or broken) keeps its traceback: that is no extra to install."""
    ensure([module], what)
    return importlib.import_module(module)
