"""Who goes where, as pure functions of labels and a seeded generator: the test split (whole groups of
copies at a time, about the same share of every class) and the Public rows of the answer key.

Pure so that they can be tested in memory on a few labels; ``own_images`` and ``fashion`` apply them.
"""

from __future__ import annotations

import numpy as np

from .errors import PrepareError

PUBLIC_FRACTION = 0.3


def usage(public: np.ndarray) -> np.ndarray:
    return np.where(public, "Public", "Private")


def allocate(counts: np.ndarray, share: float) -> np.ndarray:
    """``share`` of each count, whole numbers summing to ``round(share * total)`` (largest remainders)."""
    exact = np.asarray(counts, dtype=float) * share
    taken = np.floor(exact).astype(np.int64)
    short = round(float(share * np.sum(counts))) - int(taken.sum())
    taken[np.argsort(-(exact - taken), kind="stable")[:max(short, 0)]] += 1
    return taken


def split_by_group(labels: np.ndarray, group: np.ndarray, test_share: float, rng: np.random.Generator) -> np.ndarray:
    """Which images go to test: about ``test_share`` of each class (at least one left in train), whole
    groups at a time so that copies of one picture share a side. Images with ``group == -1`` are alone."""
    classes, label_index = np.unique(labels, return_inverse=True)
    counts = np.bincount(label_index, minlength=len(classes))
    wanted = np.minimum(allocate(counts, test_share), counts - 1)
    unit = np.where(group >= 0, group, group.max(initial=-1) + 1 + np.arange(len(group)))  # alone: its own unit
    chosen = []
    for k in range(len(classes)):  # a group holds one class: its copies' labels agree
        units, sizes = np.unique(unit[label_index == k], return_counts=True)
        order = rng.permutation(len(units))
        taken = 0
        for u, size in zip(units[order].tolist(), sizes[order].tolist()):
            if taken + size <= wanted[k]:
                chosen.append(u)
                taken += size
            if taken == wanted[k]:
                break
    return np.isin(unit, chosen)


def public_rows(labels: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """A seeded ``share`` of the rows of each class, for the public board."""
    public = np.zeros(len(labels), dtype=bool)
    classes, label_index = np.unique(labels, return_inverse=True)
    for k, n in enumerate(allocate(np.bincount(label_index, minlength=len(classes)), share)):
        rows = np.flatnonzero(label_index == k)
        public[rng.choice(rows, size=n, replace=False)] = True
    return public


def test_share(test_size: float, n_images: int) -> float:
    """``--test-size`` as a share of the images: a fraction as given, a count divided by ``n_images``."""
    if test_size < 1:
        return test_size
    if test_size >= n_images:
        raise PrepareError(f"--test-size {test_size:g}: there are only {n_images:,} images to split")
    return test_size / n_images
