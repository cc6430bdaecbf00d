"""Validate a submission CSV against the sample submission: one checker for ``submit`` and the grader.

Every malformed file is refused with a message that says what is wrong and where (line, id,
value), the way Kaggle words it. Tolerated, as Kaggle does: CRLF or LF line ends, a UTF-8 BOM,
spaces around values, and rows in another order than the sample's.

    sample = read_sample("data/fashion-mnist/test_sample.csv")
    predictions = validate_submission(Path("submissions/x.csv").read_bytes(), sample, classes)

A probability competition's sample (``read_sample(path, probabilities=True)``) has the id and one
column per class; a submission's columns may come in any order, each row's values must be numbers
in [0, 1] summing to 1 within ``SUM_TOLERANCE``, and are renormalised in float64, as Kaggle does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..data.tables import csv_rows, id_column_of, is_missing, misfit, repeats

MAX_BYTES = 50 * 1024 * 1024
SHOWN = 3  # how many offending ids or values a message lists
SUM_TOLERANCE = 1e-3  # how far a row of probabilities may sum from 1 (then it is renormalised)


class SubmissionError(InputError):
    """A submission that cannot be scored; the message says exactly why."""


@dataclass(frozen=True)
class Sample:
    """The sample submission as written: what a submission must look like."""

    columns: tuple[str, ...]  # header fields, stripped, in order
    id_column: str
    label_column: str  # "" in a probability sample
    ids: tuple[str, ...]  # ids as the sample writes them, in its row order
    header_line: str  # the header exactly as written (without line end)
    line_ending: str  # "\r\n" or "\n"
    bom: bool
    class_columns: tuple[str, ...] = ()  # a probability sample's columns besides the id, in its order


def read_sample(path: str | Path, probabilities: bool = False) -> Sample:
    """Read the sample submission; its first column named ``id`` (or its first column) is the id.
    The other column is the label; with ``probabilities``, the others are one per class."""
    path = Path(path)
    data = path.read_bytes()
    rows = csv_rows(data, str(path), SubmissionError)
    if len(rows) < 2:
        raise SubmissionError(f"{path}: a sample submission needs a header and at least one row")
    columns = tuple(rows[0].fields)
    id_column = id_column_of(columns)
    others = [c for c in columns if c != id_column]
    if len(others) != 1 and not probabilities:
        raise SubmissionError(f"{path}: a sample needs an id column and one label column, got {', '.join(columns)}")
    at = columns.index(id_column)
    return Sample(columns=columns, id_column=id_column, label_column="" if probabilities else others[0],
                  class_columns=tuple(others) if probabilities else (),
                  ids=tuple(row.fields[at] for row in rows[1:]), header_line=rows[0].text,
                  line_ending="\r\n" if b"\r\n" in data[: data.find(b"\n") + 1] else "\n",
                  bom=data.startswith(b"\xef\xbb\xbf"))


def _listing(values: list[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:SHOWN])
    return shown + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")


def check_header(header: list[str], sample: Sample, source: str) -> None:
    expected = list(sample.columns)
    if header == expected:
        return
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    detail = []
    if missing:
        detail.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        detail.append(f"unexpected column(s) {', '.join(extra)}")
    if not missing and not extra:
        detail.append("columns in another order" if len(set(header)) == len(header) else "a duplicated column")
    raise SubmissionError(f"{source}: expected columns {','.join(expected)}, got {','.join(header)} "
                          f"({'; '.join(detail)})")


def check_ids(ids: list[str], sample: Sample, source: str) -> None:
    """Each sample id exactly once: duplicated, unknown and missing ids are named (the first few)."""
    duplicated = repeats(ids)
    count = f"{len(ids):,} data row(s), expected {len(sample.ids):,}"
    if duplicated:
        unique = list(dict.fromkeys(duplicated))
        raise SubmissionError(f"{source}: {len(duplicated)} duplicated id row(s): {_listing(unique)} ({count})")
    expected = set(sample.ids)
    unknown = [i for i in ids if i not in expected]
    if unknown:
        raise SubmissionError(f"{source}: {len(unknown)} id(s) not in the sample submission: "
                              f"{_listing(unknown)} ({count})")
    given = set(ids)
    missing = [i for i in sample.ids if i not in given]
    if missing:
        raise SubmissionError(f"{source}: {count}; {len(missing)} id(s) of the sample submission missing: "
                              f"{_listing(missing)}")


def check_labels(labels: list[str], line_of: list[int], allowed: list[str], column: str, source: str) -> None:
    empty = [n for n, label in zip(line_of, labels) if is_missing(label)]
    if empty:
        raise SubmissionError(f"{source}, line {empty[0]}: empty or NaN prediction in column '{column}'"
                              + (f" ({len(empty)} such rows)" if len(empty) > 1 else ""))
    allowed_set = set(allowed)
    bad = [(n, label) for n, label in zip(line_of, labels) if label not in allowed_set]
    if bad:
        line, value = bad[0]
        raise SubmissionError(f"{source}, line {line}: {value!r} in column '{column}' is not a class of this "
                              f"competition (allowed: {', '.join(allowed)})"
                              + (f"; {len(bad)} rows have unknown classes" if len(bad) > 1 else ""))


def check_probability_header(header: list[str], sample: Sample, classes: list, source: str) -> list[int]:
    """Where each class's column is in ``header`` (classes in the loader's order): the id and one
    column per class, in any order; missing, unknown and duplicated columns are named."""
    expected = [sample.id_column, *(str(c) for c in classes)]
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    duplicated = sorted(set(repeats(header)))
    detail = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + \
        ([f"unexpected column(s) {', '.join(extra)}"] if extra else []) + \
        ([f"duplicated column(s) {', '.join(duplicated)}"] if duplicated else [])
    if detail:
        raise SubmissionError(f"{source}: expected columns {','.join(expected)} (in any order), got {','.join(header)} "
                              f"({'; '.join(detail)})")
    return [header.index(str(c)) for c in classes]


def read_probabilities(body: list[tuple[int, list[str]]], ids: list[str], at_classes: list[int], header: list[str],
                       source: str) -> np.ndarray:
    """The rows' probabilities, ``(n, K)`` float64 in class order, each row renormalised to sum to 1.
    Refused, naming the line: a value that is not a number, one outside [0, 1], a row whose sum is
    off 1 by more than ``SUM_TOLERANCE``."""
    texts = [[row[at] for at in at_classes] for _, row in body]
    values = np.empty((len(texts), len(at_classes)), dtype=np.float64)
    for r, ((line, _), row) in enumerate(zip(body, texts)):
        for k, text in enumerate(row):
            try:
                values[r, k] = float(text)
            except ValueError:
                values[r, k] = np.nan
            if np.isnan(values[r, k]):
                raise SubmissionError(f"{source}, line {line}: {text!r} in column '{header[at_classes[k]]}' is not a "
                                      "number" + (" (empty or NaN)" if is_missing(text) else ""))
    outside = np.argwhere((values < 0) | (values > 1))
    if len(outside):
        (row, k), = outside[:1]
        raise SubmissionError(f"{source}, line {body[row][0]}: {texts[row][k]} in column '{header[at_classes[k]]}' "
                              f"is not a probability (outside [0, 1])"
                              + (f"; {len(outside)} such values" if len(outside) > 1 else ""))
    sums = values.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > SUM_TOLERANCE)
    if len(off):
        row = off[0]
        raise SubmissionError(f"{source}, line {body[row][0]} (id {ids[row]!r}): probabilities sum to {sums[row]:.6g}, "
                              f"expected 1 (within {SUM_TOLERANCE:g})"
                              + (f"; {len(off)} such rows" if len(off) > 1 else ""))
    return values / sums[:, None]


def validate_submission(data: bytes, sample: Sample, classes: list, *, source: str = "submission",
                        max_bytes: int = MAX_BYTES) -> dict:
    """Check ``data`` (a CSV's bytes) and return its predictions as ``{id: label}`` (text), or for a
    probability sample as ``{id: probabilities}`` (float64, in the order of ``classes``).

    ``classes``: the training classes (any type; compared as text). Raises ``SubmissionError``.
    """
    if len(data) > max_bytes:
        raise SubmissionError(f"{source}: {len(data):,} bytes, over the limit of {max_bytes:,}")
    rows = csv_rows(data, source, SubmissionError)
    header = rows[0].fields
    if sample.class_columns:
        at_classes = check_probability_header(header, sample, classes, source)
    else:
        check_header(header, sample, source)
    width = len(sample.columns)
    odd = misfit(rows[1:], width)
    if odd:
        raise SubmissionError(f"{source}, line {odd.line}: {len(odd.fields)} field(s), "
                              f"expected {width} ({','.join(header)})")
    body = [(row.line, row.fields) for row in rows[1:]]
    if not body:
        raise SubmissionError(f"{source}: no data rows, expected {len(sample.ids):,} (one per sample id)")
    at_id = header.index(sample.id_column)
    ids = [row[at_id] for _, row in body]
    check_ids(ids, sample, source)
    if sample.class_columns:
        return dict(zip(ids, read_probabilities(body, ids, at_classes, header, source)))
    at_label = sample.columns.index(sample.label_column)
    labels = [row[at_label] for _, row in body]
    check_labels(labels, [line for line, _ in body], [str(c) for c in classes], sample.label_column, source)
    return dict(zip(ids, labels))
