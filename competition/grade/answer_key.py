"""The answer key (``<data>.grader/solution.csv``): read and checked like a submission, and refused
when the competition's metric could not score it, so that no upload is ever scored against a wrong key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data import metrics
from ..data.tables import read_csv
from ..errors import InputError
from . import public_private
from .public_private import USAGES
from .validate import Sample, SubmissionError, check_ids, check_labels

if TYPE_CHECKING:  # pandas is imported where a table is made, not when a command reads its options
    import pandas as pd


class AnswerKeyError(InputError):
    """An answer key that does not fit the competition: scoring with it would give wrong scores."""


def read_solution(path: Path, sample: Sample, classes: list, label_column: str | None = None) -> pd.DataFrame:
    """The answer key (``id``, the label column, ``Usage``; all text), checked like a submission:
    the id and label columns (``label_column``: train.csv's, which a probability sample lacks),
    every sample id once, only known classes, and Public and Private rows only."""
    import pandas as pd

    if not path.is_file():
        raise AnswerKeyError(f"{path}: no answer key (python -m competition.prepare writes it)")
    table = read_csv(path, AnswerKeyError)
    label_column = label_column or sample.label_column
    expected = [sample.id_column, label_column, "Usage"]
    if sorted(table) != sorted(expected):
        raise AnswerKeyError(f"{path}: expected columns {','.join(expected)}, got {','.join(table)}")
    ids, labels, usage = (table[column] for column in expected)
    source = f"answer key {path}"
    try:
        check_ids(ids, sample, source)
        check_labels(labels, list(range(2, len(labels) + 2)), [str(c) for c in classes], label_column, source)
    except SubmissionError as exc:
        raise AnswerKeyError(str(exc)) from None
    odd = [(row, value) for row, value in enumerate(usage) if value not in USAGES]
    if odd:
        row, value = odd[0]
        raise AnswerKeyError(f"{path}, line {row + 2}: Usage {value!r}, expected Public or Private"
                             + (f" ({len(odd)} such rows)" if len(odd) > 1 else ""))
    for kind in USAGES:
        if kind not in usage:
            raise AnswerKeyError(f"{path}: no {kind} rows (Usage must split the rows into Public and Private)")
    return pd.DataFrame({sample.id_column: ids, label_column: labels, "Usage": usage})


def check_scorable(solution: pd.DataFrame, classes: list, scorer: metrics.Metric, path: Path) -> None:
    """Refuse an answer key the metric cannot score (ROC AUC on Public rows that lack a class):
    found once here, not as a failure of every upload."""
    ids, labels = solution.iloc[:, 0], metrics.encode(solution.iloc[:, 1], classes)
    perfect = (dict(zip(ids, np.eye(len(classes))[labels])) if scorer.needs == metrics.PROBABILITIES
               else dict(zip(ids, solution.iloc[:, 1])))
    try:
        public_private.scores(perfect, solution, classes, scorer.name)
    except InputError as exc:
        raise AnswerKeyError(f"{path}: metric {scorer.name} cannot score its Public or Private rows: {exc}") from None
