"""Public and private scores of validated predictions: pure functions of the predictions, the
answer key and the metric, shared by the local grader, the server's boards and ``compare``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..data import metrics

if TYPE_CHECKING:  # pandas is imported where a table is made, not when a command reads its options
    import pandas as pd


USAGES = ("Public", "Private")


def scores(predictions: dict, solution: pd.DataFrame, classes: list, metric: str = metrics.DEFAULT) -> dict[str, float]:
    """Public and private scores of validated ``predictions`` (id -> label text, or id -> class
    probabilities in the order of ``classes``) by ``metric``, each on its own rows only: one pure
    function for the command line and any server. ``classes``: the loader's order (kappa's order)."""
    scorer = metrics.get(metric)
    return {usage.lower(): scorer.score(*scored_rows(predictions, solution, classes, scorer, usage), len(classes))
            for usage in USAGES}


def scored_rows(predictions: dict, solution: pd.DataFrame, classes: list, scorer: metrics.Metric,
                usage: str) -> tuple[np.ndarray, np.ndarray]:
    """The true class indices of the ``usage`` rows (Public or Private) and what ``scorer`` scores
    of ``predictions`` there (class indices, or the probability matrix): a score's rows, for its
    interval and for comparing two files row by row (``data.uncertainty``)."""
    id_column, label_column = solution.columns[0], solution.columns[1]
    part = solution[solution["Usage"] == usage]
    predicted = [predictions[i] for i in part[id_column].tolist()]
    if scorer.needs == metrics.LABELS:
        predicted = metrics.encode(predicted, classes)
    return metrics.encode(part[label_column], classes), np.array(predicted)
