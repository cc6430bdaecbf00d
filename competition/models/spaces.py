"""Search spaces as data: what ``competition.tune`` may vary in a model, and over which range.

A space maps a model parameter's plain name (as ``make_model`` takes it) to a dimension::

    {"learning_rate": Float(0.02, 0.3, log=True), "num_leaves": Int(8, 128, log=True)}

A dimension draws one value from an Optuna trial (``suggest``) under the parameter's name, so
a study's trials read like ``--param`` overrides; nothing here imports Optuna (the ``tune`` extra
is optional): the trial arrives as an argument. ``encode`` turns a model's default value into
the trial parameters that reproduce it, so a new study can start from the defaults, and
``str`` describes the range for people. ``Layers`` is the one dimension that is not a single
trial parameter: a network's layer sizes drawn as a width and a depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any


def _number(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


@dataclass(frozen=True)
class Float:
    """A real number in ``[low, high]``, drawn on a log scale when ``log``."""

    low: float
    high: float
    log: bool = False

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def encode(self, name: str, value: Any) -> dict[str, Any]:
        return {name: float(value)} if _number(value, Real) and self.low <= value <= self.high else {}

    def __str__(self) -> str:
        return f"{self.low:g}..{self.high:g}" + (" (log)" if self.log else "")


@dataclass(frozen=True)
class Int:
    """An integer in ``[low, high]`` in steps of ``step`` (log scale: step 1 only, Optuna's rule)."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def encode(self, name: str, value: Any) -> dict[str, Any]:
        fits = _number(value, Integral) and self.low <= value <= self.high and (value - self.low) % self.step == 0
        return {name: int(value)} if fits else {}

    def __str__(self) -> str:
        step = f" step {self.step}" if self.step != 1 else ""
        return f"{self.low}..{self.high}{step}" + (" (log)" if self.log else "")


@dataclass(frozen=True)
class Choice:
    """One of ``options`` (numbers, strings, booleans or None: what Optuna can store)."""

    options: tuple

    def suggest(self, trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.options))

    def encode(self, name: str, value: Any) -> dict[str, Any]:
        return {name: value} if any(value is o or (type(value) is type(o) and value == o) for o in self.options) else {}

    def __str__(self) -> str:
        return "{" + ", ".join(map(repr, self.options)) + "}"


@dataclass(frozen=True)
class Layers:
    """Layer sizes of a network: ``NAME_units`` for the first layer (``low..high``, log scale) and
    ``NAME_layers`` (1..``max_layers``), each further layer half the one before, as in the MLP's
    default ``(512, 256)``."""

    low: int
    high: int
    max_layers: int

    @staticmethod
    def sizes(units: int, layers: int) -> tuple[int, ...]:
        return tuple(max(1, units >> i) for i in range(layers))

    def suggest(self, trial, name: str) -> tuple[int, ...]:
        units = trial.suggest_int(f"{name}_units", self.low, self.high, log=True)
        return self.sizes(units, trial.suggest_int(f"{name}_layers", 1, self.max_layers))

    def encode(self, name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, (tuple, list)) or not value or not 1 <= len(value) <= self.max_layers:
            return {}
        units = value[0]
        if not (_number(units, Integral) and self.low <= units <= self.high
                and tuple(value) == self.sizes(units, len(value))):
            return {}
        return {f"{name}_units": int(units), f"{name}_layers": len(value)}

    def __str__(self) -> str:
        return f"first layer {self.low}..{self.high} (log), 1..{self.max_layers} layers, each half the one before"


# One space per model family. Ranges hold the registry's defaults wherever the default is a value
# of the range, so a new study's first trial is the defaults (see ``tune``).
TREE = {  # a single decision tree
    "max_depth": Int(4, 40, log=True),
    "min_samples_leaf": Int(1, 40, log=True),
    "max_features": Float(0.05, 1.0, log=True),
    "criterion": Choice(("gini", "entropy")),
}
FOREST = {
    "n_estimators": Int(50, 300, step=50),
    "max_features": Float(0.01, 0.5, log=True),
    "min_samples_leaf": Int(1, 20, log=True),
    "criterion": Choice(("gini", "entropy")),
}
LINEAR = {"C": Float(1e-3, 10.0, log=True)}
BOOSTING = {  # the settings XGBoost and LightGBM share; early stopping picks the rounds below the cap
    "n_estimators": Int(100, 800, step=100),
    "learning_rate": Float(0.02, 0.3, log=True),
    "subsample": Float(0.5, 1.0),
    "colsample_bytree": Float(0.2, 1.0),
}
XGB = {**BOOSTING, "max_depth": Int(3, 10)}
LGBM = {**BOOSTING, "num_leaves": Int(8, 128, log=True), "min_child_samples": Int(5, 100, log=True)}
MLP = {
    "hidden": Layers(64, 1024, max_layers=3),
    "dropout": Float(0.0, 0.5),
    "learning_rate": Float(1e-4, 1e-2, log=True),
    "epochs": Int(10, 60, step=10),
}
CNN = {
    "width": Int(8, 48, step=8),
    "dropout": Float(0.0, 0.5),
    "learning_rate": Float(1e-3, 2e-2, log=True),  # the default 6e-3 inside
    # None, the default (7 on large data, more on few rows), among the longer schedules: a new
    # study starts from it
    "epochs": Choice((None, 14, 21, 28)),
}
CNN_QUICK = {  # cnn-quick's short schedule: its defaults (width 16, lr 6e-3, 5 epochs) on the grid
    "width": Int(8, 48, step=8),
    "dropout": Float(0.0, 0.5),
    "learning_rate": Float(1e-3, 2e-2, log=True),
    "epochs": Int(2, 8),
}
