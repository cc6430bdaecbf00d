"""What a run folder holds, as records in memory, and the names of its files.

    runs/<YYYYmmdd-HHMMSS>-<model>/
      config.json       model, params, folds, seed, seeds, limit, data fingerprint, git commit, versions, host
      folds.npy         fold of every train.csv row (-1: left out by --limit)
      labels.npy        every train.csv row's label as a column index of the probabilities
      folds/fold-K.npz  held-out rows, their probabilities, test probabilities   (written per fold)
      folds/fold-K.json that fold's scores and training history                   (marks it done)
      oof.npy           (train rows, classes) out-of-fold probabilities (NaN rows: left out)
      test.npy          (test rows in sample order, classes), averaged over the fold models
                        (with --refit: the model trained again on every row, refit/test.npy)
      refit/            --refit: that model's test probabilities and scores.json (written before test.npy)
      scores.json       per fold and overall; written last: a run with it is finished
      histories.json    per-fold training curves (Keras epochs, boosting rounds)

The records know nothing of writing (``folder``) or of scoring (``scoring``), so that both can
name them without importing each other.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError

CONFIG, FOLDS, LABELS, OOF, TEST, SCORES, HISTORIES = (
    "config.json", "folds.npy", "labels.npy", "oof.npy", "test.npy", "scores.json", "histories.json")
REFIT_ARRAYS, REFIT_SCORES = "refit/test.npy", "refit/scores.json"
FOLD_DIR = "folds"
UNREADABLE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)  # what a damaged .npy/.npz raises


class RunError(InputError):
    """A run folder that cannot be used; the message names the file."""


@dataclass
class FoldResult:
    fold: int
    rows: np.ndarray  # held-out train rows
    proba: np.ndarray  # (len(rows), n_classes)
    test_proba: np.ndarray  # (n_test, n_classes)
    scores: dict  # accuracy, log_loss, rows, fit_seconds, predict_seconds, best_iteration
    history: dict | None = None


@dataclass
class RefitResult:
    test_proba: np.ndarray  # (n_test, n_classes) of the model trained on every row
    scores: dict  # params it was given, rows, iterations, fit_seconds, predict_seconds


@dataclass
class CVResult:
    """A cross-validation in memory: what ``folder.write_run`` writes."""

    oof: np.ndarray  # (n_train, n_classes); NaN rows outside the folds
    test: np.ndarray  # (n_test, n_classes), the mean of the fold models' probabilities
    scores: dict  # per fold and overall (``scoring.summarise``)
    folds: list[FoldResult]


@dataclass
class Run:
    """A run folder read back: its config and scores (None while unfinished); its arrays are read
    when first asked for, checked against the shapes the config promises, and kept (read-only), so
    that one command reading a run's OOF rows for several purposes reads the file once."""

    path: Path
    config: dict
    scores: dict | None  # None while unfinished
    done_folds: list[int]
    _arrays: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.scores is not None

    @property
    def name(self) -> str:
        return self.path.name

    def oof(self) -> np.ndarray:
        """(train rows, classes) out-of-fold probabilities, NaN rows outside the folds."""
        return self._kept(OOF, (self.config["data"]["train_rows"], len(self.classes)),
                          lambda oof: check_probabilities(oof[~np.isnan(oof).all(axis=1)], self.path / OOF))

    def test(self) -> np.ndarray:
        """(test rows, classes) probabilities, in sample order."""
        return self._kept(TEST, (self.config["data"]["test_rows"], len(self.classes)),
                          lambda test: check_probabilities(test, self.path / TEST))

    def folds(self) -> np.ndarray:
        """Each train row's fold (-1: left out), as many folds as the config says."""
        return self._kept(FOLDS, (self.config["data"]["train_rows"],), self._check_folds)

    def labels(self) -> np.ndarray:
        """Encoded true labels of the train rows (column indices into ``oof()``)."""
        return self._kept(LABELS, (self.config["data"]["train_rows"],))

    def _check_folds(self, folds: np.ndarray) -> None:
        if folds.max(initial=-1) + 1 != self.config["folds"] or folds.min(initial=0) < -1:
            raise RunError(f"{self.path / FOLDS}: holds folds {folds.min()}..{folds.max()}, the run's config says "
                           f"{self.config['folds']} folds")

    def _kept(self, name: str, shape: tuple, check: Callable[[np.ndarray], object] | None = None) -> np.ndarray:
        """The saved array ``name``, read once: checked against the shape its config promises (and
        ``check``), then kept read-only, so that no reader can change what the next one sees."""
        if name not in self._arrays:
            path = self.path / name
            try:
                array = np.load(path, allow_pickle=False)
            except UNREADABLE as exc:
                raise RunError(f"{path}: damaged or unreadable ({type(exc).__name__}: {exc})") from None
            if array.shape != tuple(shape):
                raise RunError(f"{path}: holds an array of shape {array.shape}, the run's config says {tuple(shape)}")
            if check is not None:
                check(array)
            array.flags.writeable = False
            self._arrays[name] = array
        return self._arrays[name]

    @property
    def classes(self) -> list:
        return self.config["data"]["classes"]


def check_probabilities(proba: np.ndarray, source) -> np.ndarray:
    """``proba`` if every row is a probability distribution (finite, in [0, 1], summing to 1)."""
    if proba.size and not (np.isfinite(proba).all() and (proba >= 0).all() and (proba <= 1).all()
                           and np.allclose(proba.sum(axis=1), 1, atol=1e-6)):
        raise RunError(f"{source}: holds values that are not probabilities (each row must be in [0, 1] and sum to 1)")
    return proba
