"""Sameness: pairs of submissions from different teams whose predictions agree on nearly every
row. A "look here" list for the host (``/admin``, ``sameness.csv``), never a verdict: two teams
that ran the same seeded model agree exactly, innocently.

Computed from the kept files: each scored file's predicted class per test row (labels as given;
probabilities by their most likely class), rows in the order of the first file's ids, then the
agreement of every pair at once, one matrix product per class (``onehot @ onehot.T``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

NEARLY = 0.98  # the share of rows two submissions must agree on to be listed
COLUMNS = ("first", "first_team", "second", "second_team", "agreement", "identical")


def predicted(path: Path) -> pd.Series:
    """A kept file's predicted class per id (first column): the label column, or the column of the
    largest probability."""
    table = pd.read_csv(path, dtype=str)
    ids = table.iloc[:, 0]
    if table.shape[1] == 2:
        return pd.Series(table.iloc[:, 1].to_numpy(), index=ids)
    values = table.iloc[:, 1:].astype(float).to_numpy()
    return pd.Series(np.asarray(table.columns[1:])[values.argmax(axis=1)], index=ids)


def agreement(labels: np.ndarray) -> np.ndarray:
    """(n, n) share of rows on which each pair of the (n, rows) class codes agree."""
    rows = labels.shape[1]
    total = np.zeros((len(labels), len(labels)))
    for code in np.unique(labels):
        hot = (labels == code).astype(np.float32)
        total += hot @ hot.T
    return total / rows


def pairs(rows: list[dict], files: Path, nearly: float = NEARLY) -> list[dict]:
    """The pairs (by submission id) from different teams among the scored ``rows`` whose kept files
    (``files/<sha256>.csv``) agree on at least ``nearly`` of the rows, most alike first.
    ``identical``: the same predictions (the same digest, or the same bytes)."""
    scored = [row for row in rows if row["status"] == "ok"]
    if len({row["team"] for row in scored}) < 2:
        return []
    series = {}
    for row in scored:
        if row["sha256"] not in series:
            series[row["sha256"]] = predicted(files / f"{row['sha256']}.csv")
    order = next(iter(series.values())).index
    text = np.stack([series[row["sha256"]].reindex(order).to_numpy(dtype=object) for row in scored]).astype(str)
    _, codes = np.unique(text, return_inverse=True)
    alike = agreement(codes.reshape(text.shape))
    first, second = np.nonzero(np.triu(alike >= nearly - 1e-9, k=1))
    found = []
    for i, j in zip(first.tolist(), second.tolist()):
        a, b = scored[i], scored[j]
        if a["team"] == b["team"]:
            continue
        same = (a.get("digest") or a["sha256"]) == (b.get("digest") or b["sha256"])
        found.append({"first": a["id"], "first_team": a["team"], "second": b["id"], "second_team": b["team"],
                      "agreement": round(float(alike[i, j]), 6), "identical": same})
    return sorted(found, key=lambda p: (-p["agreement"], p["first"], p["second"]))
