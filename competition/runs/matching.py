"""Whether a run is the one asked for: the one rule that resuming (``cv --resume``), reusing
(``submit``, ``tune``'s trials and best run), copying folds (``cv``'s refit twin) and ensembling
runs follow, so that none of them can take a run of other seeds, refit, folds or data for another.

Pure functions of run configs (``cv.make_config``'s dictionaries); a run is anything with
``config`` and ``finished``, so that this module needs none of the storage (``runs``) it serves.
"""

from __future__ import annotations

from typing import Iterable, TypeVar

# What a run must share with a request to be resumed or reused: the recipe, the folds and the data
# (the fingerprint, always compared).
RECIPE = ("model", "params", "folds", "seed", "seeds", "refit", "limit", "keras_backend")
# What ensemble members must share: the folds' part, so that their out-of-fold rows line up.
SAME_FOLDS = ("folds", "seed", "limit")
# What a tuning study must share with a later session: the recipe but the parameters, which its
# trials vary (each trial a run of one seed, without refit: those stay at their defaults).
STUDY = tuple(key for key in RECIPE if key not in ("params", "seeds", "refit"))
# What a config written before a key existed meant by leaving it out, and what a new run takes.
DEFAULTS = {"seeds": 1, "refit": False}

RunT = TypeVar("RunT")


def setting(config: dict, key: str):
    """``config``'s value of ``key``, or what leaving it out means (``DEFAULTS``)."""
    return config.get(key, DEFAULTS.get(key))


def differences(saved: dict, wanted: dict, keys: tuple[str, ...] = RECIPE) -> list[str]:
    """What differs between a run's config and a requested one, in words; empty when the run is
    the one asked for."""
    found = []
    for key in keys:
        before, now = setting(saved, key), setting(wanted, key)
        if key == "params" and isinstance(before, dict) and isinstance(now, dict):
            found += [f"parameter {name}: run has {before.get(name)!r}, now {now.get(name)!r}"
                      for name in sorted(set(before) | set(now)) if before.get(name) != now.get(name)]
        elif before != now:
            found.append(f"{key}: run has {before!r}, now {now!r}")
    if saved["data"]["fingerprint"] != wanted["data"]["fingerprint"]:
        found.append(f"data fingerprint: run has {saved['data']['fingerprint'][:12]}, now "
                     f"{wanted['data']['fingerprint'][:12]} (the CSVs or images changed)")
    return found


def matching(found: Iterable[RunT], wanted: dict, finished: bool = True) -> list[RunT]:
    """The finished (or, with ``finished=False``, interrupted) runs of ``found`` that ``wanted``
    would reproduce, in ``found``'s order."""
    return [run for run in found if run.finished == finished and not differences(run.config, wanted)]


def study_identity(config: dict) -> dict:
    """The part of a run config that every trial of one tuning study shares (``STUDY`` and the data)."""
    return {**{key: config[key] for key in STUDY}, "fingerprint": config["data"]["fingerprint"]}
