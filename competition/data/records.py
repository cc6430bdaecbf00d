"""The competition's records: where a competition folder's parts are (``Layout``) and what loading
it gives (``Competition``), with the error and warning that the folder's checks raise.

One floor below the loader (``competition.data``) and its cache (``competition.data.cache``), which
both build and read these records: neither needs the other to know their shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, InputWarning
from . import overview as overview_file


class CompetitionDataError(InputError):
    """The competition folder cannot be used; the message names the file, row or field."""


class CompetitionDataWarning(InputWarning):
    """Something in the folder is odd but usable (extra images, a class too small for the folds)."""


@dataclass
class Competition:
    """A loaded competition: images as ``(N, H, W, C)`` uint8, labels as ``train.csv`` holds them."""

    name: str
    path: Path
    x_train: np.ndarray  # (n_train, H, W, C) uint8
    y_train: np.ndarray  # (n_train,) int64 or str, in train.csv order
    train_ids: np.ndarray  # (n_train,) str
    x_test: np.ndarray  # (n_test, H, W, C) uint8, in test_sample.csv order
    test_ids: np.ndarray  # (n_test,) str
    classes: np.ndarray  # sorted unique labels
    id_column: str = "id"
    label_column: str = "class"
    fingerprint: str = ""  # sha256 of both CSVs and every pixel: the data a run was made on
    warnings: list[str] = field(default_factory=list)
    cache_status: str = "off"  # "hit", "built" or "off (why)"
    overview: overview_file.Overview = field(default_factory=overview_file.Overview)  # competition.json

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.classes)


@dataclass
class Layout:
    """Where the parts of a competition folder are, and its answer key's: the one place that says
    so, for ``prepare`` that writes them and for the loader, the grader and the server that read them."""

    root: Path

    TRAIN = "train.csv"
    SAMPLE = "test_sample.csv"
    CLASSES = "classes.csv"
    SOLUTION = "solution.csv"

    @property
    def train_csv(self) -> Path:
        return self.root / self.TRAIN

    @property
    def sample_csv(self) -> Path:
        return self.root / self.SAMPLE

    @property
    def classes_csv(self) -> Path:
        """What each label means (``class,name``), when the host named them."""
        return self.root / self.CLASSES

    @property
    def grader(self) -> Path:
        """The answer key's folder: beside the competitor's, never inside it, so that the
        competitor's folder can be handed out alone."""
        return self.root.with_name(self.root.name + ".grader")

    @property
    def solution_csv(self) -> Path:
        """The answer key (``id,class,Usage``): the host's alone."""
        return self.grader / self.SOLUTION

    @property
    def train_images(self) -> Path:
        return self.root / "images" / "train"

    @property
    def test_images(self) -> Path:
        return self.root / "images" / "test"

    def check_exists(self) -> None:
        if not self.root.is_dir():
            raise CompetitionDataError(f"{self.root}: no such competition folder")
        for path in (self.train_csv, self.sample_csv):
            if not path.is_file():
                raise CompetitionDataError(f"{path}: missing "
                                           "(a competition folder needs train.csv and test_sample.csv)")
        for path in (self.train_images, self.test_images):
            if not path.is_dir():
                raise CompetitionDataError(f"{path}: missing image folder")
