"""The one look-up of a recipe among the run folders: which finished run answers it, which
interrupted one could be finished, and which finished run differs only in ``--refit`` (its
folds can be copied). The folder is listed once per question; every command that finds or makes
a run (``cv.obtain_run``: ``submit``, ``tune``; ``cv``'s refit twin) asks here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import folder, matching
from .records import Run, RunError


@dataclass
class Found:
    """What ``runs_dir`` holds of one recipe, oldest first within each kind."""

    matches: list[Run] = field(default_factory=list)  # finished runs ``config`` would reproduce
    unfinished: list[Run] = field(default_factory=list)  # interrupted ones, which ``--resume`` finishes
    twin: Run | None = None  # the newest finished run of the same folds that differs only in refit

    @property
    def finished(self) -> Run | None:
        """The newest finished run of the recipe, or None."""
        return self.matches[-1] if self.matches else None

    @property
    def interrupted(self) -> Run | None:
        """The newest interrupted run of the recipe, or None."""
        return self.unfinished[-1] if self.unfinished else None


def lookup(runs_dir: str | Path, config: dict, folds: np.ndarray | None = None) -> Found:
    """The runs under ``runs_dir`` that answer ``config`` (``matching``'s one rule), listed once.
    With ``folds`` (the fold of every row, as ``cv.obtain.plan`` makes them), also the refit twin: a
    finished run that differs from ``config`` only in ``refit``, whose folds are the ones this run
    would train (a refit adds one model after the same folds), so ``submit --refit`` after ``make
    submit`` trains the refit alone, and the reverse trains nothing."""
    listed = folder.list_runs(runs_dir)
    found = Found(matching.matching(listed, config), matching.matching(listed, config, finished=False))
    if folds is not None:
        twins = matching.matching(listed, {**config, "refit": not matching.setting(config, "refit")})
        found.twin = twins[-1] if twins and same_folds(twins[-1], folds) else None
    return found


def same_folds(run: Run, folds: np.ndarray) -> bool:
    """Whether ``run`` was made on exactly ``folds``; a damaged ``folds.npy`` says no (train the
    folds again rather than trust its fold files)."""
    try:
        return np.array_equal(run.folds(), folds)
    except RunError:
        return False
