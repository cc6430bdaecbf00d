"""What every reader takes from a run folder, as rules (key -> (check, what it must be)):
``folder.load_run`` refuses a run that breaks one, so that no listing, comparison or submission
trips over a ``config.json`` or ``scores.json`` edited by hand or written by another version.
Pure functions of parsed JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable


def _number(low: float = -math.inf, high: float = math.inf, integer: bool = False) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return (isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) and low <= value <= high)
    return check


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _is(kind: type) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, kind)


_TEXT = (lambda value: isinstance(value, str) and bool(value), "a non-empty text")
_FRACTION = (_number(0, 1), "a number from 0 to 1")
_AT_LEAST_0 = (_number(0), "a number of at least 0")
_PARAMS = (_optional(_is(dict)), "an object of parameters")
# What every reader takes from a run (key -> (check, what it must be)): ``load_run`` refuses a run
# that breaks one, so that no listing, comparison or submission trips over it. ``None`` in the
# optional tables: the key may be left out (``matching.DEFAULTS``) or be null.
CONFIG_RULES = {"model": _TEXT,
                "folds": (_number(2, integer=True), "an integer of at least 2"),
                "seed": (_number(0, integer=True), "an integer of at least 0"),
                "data": (_is(dict), "an object")}
CONFIG_OPTIONAL = {"params": _PARAMS, "overrides": _PARAMS,
                   "seeds": (_number(1, integer=True), "an integer of at least 1"),
                   "refit": (_is(bool), "true or false"),
                   "limit": (_optional(_number(1, integer=True)), "an integer of at least 1, or null")}
DATA_RULES = {"fingerprint": _TEXT,
              "train_rows": (_number(1, integer=True), "an integer of at least 1"),
              "test_rows": (_number(1, integer=True), "an integer of at least 1"),
              "classes": (lambda v: isinstance(v, list) and len(v) >= 2, "a list of at least 2 classes")}
SCORE_RULES = {"accuracy_mean": _FRACTION, "accuracy_std": _FRACTION, "oof_accuracy": _FRACTION,
               "log_loss_mean": _AT_LEAST_0, "oof_log_loss": _AT_LEAST_0,
               "oof_rows": (_number(0, integer=True), "an integer of at least 0"),
               "fit_seconds": _AT_LEAST_0, "predict_seconds": _AT_LEAST_0,
               "folds": (lambda v: isinstance(v, list) and all(isinstance(f, dict) for f in v), "a list of objects")}
FOLD_RULES = {"fold": (_number(0, integer=True), "an integer of at least 0"), "accuracy": _FRACTION,
              "log_loss": _AT_LEAST_0}


def broken_rule(record: dict, rules: dict, optional: dict | None = None, prefix: str = "") -> str | None:
    """The first value of ``record`` that breaks ``rules`` (missing, wrong type, out of range), in
    words, or None."""
    for key, (check, what) in rules.items():
        if key not in record:
            return f"{prefix}{key} is missing"
        if not check(record[key]):
            return f"{prefix}{key} must be {what}, got {json.dumps(record[key], default=str)[:60]}"
    for key, (check, what) in (optional or {}).items():
        if key in record and not check(record[key]):
            return f"{prefix}{key} must be {what}, got {json.dumps(record[key], default=str)[:60]}"
    return None


def config_problem(config: dict) -> str | None:
    """Why ``config`` is not a run's config, or None."""
    return broken_rule(config, CONFIG_RULES, CONFIG_OPTIONAL) or broken_rule(config["data"], DATA_RULES, prefix="data.")


def scores_problem(scores: dict) -> str | None:
    """Why ``scores`` is not a finished run's scores, or None: the summary numbers, the times, and
    each fold's (``tune`` reports a reused run's fold accuracies to its pruner)."""
    problem = broken_rule(scores, SCORE_RULES)  # first: it checks that folds is a list of objects
    if problem:
        return problem
    return next(filter(None, (broken_rule(fold, FOLD_RULES, prefix=f"folds[{i}].")
                              for i, fold in enumerate(scores["folds"]))), None)


