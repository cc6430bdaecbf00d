"""Folds: one seeded, stratified split of the training rows, the same for every model.

``make_folds`` returns the fold of each row of ``train.csv`` (``-1`` for rows left out by a
``limit``), so that runs of different models can be compared, ensembled and stacked row by row.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import cli
from ..errors import InputError


class FoldsError(InputError):
    """Rows and classes that cannot be split into the folds asked for."""


def subsample(y: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Sorted indices of a stratified sample of ``limit`` rows (all rows if ``limit`` >= len(y))."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    if limit >= len(y):
        return rows
    kept, _ = train_test_split(rows, train_size=limit, random_state=seed, stratify=y)
    return np.sort(kept)


def make_folds(y: np.ndarray, n_folds: int = 5, seed: int = 87, limit: int | None = None) -> np.ndarray:
    """Fold number (0..n_folds-1) of every row, ``-1`` for rows outside the ``limit`` sample.

    ``StratifiedKFold(n_folds, shuffle=True, random_state=seed)`` over the (sampled) rows: the
    same labels, fold count, seed and limit always give the same folds.
    """
    from sklearn.model_selection import StratifiedKFold

    if n_folds < 2:
        raise FoldsError(f"need at least 2 folds, got {n_folds}")
    cli.at_least("--limit", limit, error=FoldsError)
    y = np.asarray(y)
    try:
        rows = subsample(y, limit, seed) if limit else np.arange(len(y))
        folds = np.full(len(y), -1, dtype=np.int64)
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():  # a class smaller than the folds: the loader says so, in its words
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(rows)), y[rows])):
                folds[rows[held_out]] = fold
    except ValueError as exc:  # scikit-learn's words for too few rows per class or fold
        sample = f"a sample of {limit} of {len(y)} rows" if limit else f"{len(y)} rows"
        raise FoldsError(f"cannot split {sample} into {n_folds} stratified folds: {exc}") from None
    check_partition(folds, n_folds)
    return folds


def check_partition(folds: np.ndarray, n_folds: int) -> None:
    """Every used row is held out exactly once, and every fold holds rows out."""
    used = folds[folds >= 0]
    counts = np.bincount(used, minlength=n_folds)
    if len(counts) != n_folds or (counts == 0).any():
        raise ValueError(f"folds do not partition the rows: rows per fold {counts.tolist()}")


def fold_rows(folds: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, held-out rows) of ``fold``."""
    return np.flatnonzero((folds >= 0) & (folds != fold)), np.flatnonzero(folds == fold)
