"""Validate a submission CSV against the sample submission: one checker for ``submit`` and the grader.

Every malformed file is refused with a message that says what is wrong and where (line, id,
value), the way Kaggle words it. Tolerated, as Kaggle does: CRLF or LF line ends, a UTF-8 BOM,
spaces around values, and rows in another order than the sample's.

    sample = read_sample("data/fashion-mnist/test_sample.csv")
    predictions = validate_submission(Path("submissions/x.csv").read_bytes(), sample, classes)
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

MAX_BYTES = 50 * 1024 * 1024
MISSING = {"", "nan", "na", "n/a", "null", "none", "#n/a"}
SHOWN = 3  # how many offending ids or values a message lists


class SubmissionError(InputError):
    """A submission that cannot be scored; the message says exactly why."""


@dataclass(frozen=True)
class Sample:
    """The sample submission as written: what a submission must look like."""

    columns: tuple[str, ...]  # header fields, stripped, in order
    id_column: str
    label_column: str
    ids: tuple[str, ...]  # ids as the sample writes them, in its row order
    header_line: str  # the header exactly as written (without line end)
    line_ending: str  # "\r\n" or "\n"
    bom: bool


def _decode(data: bytes, source: str) -> str:
    if not data.strip():
        raise SubmissionError(f"{source}: empty file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{source}: not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x}); "
                              "save the CSV as UTF-8") from None


def _rows(text: str, source: str) -> list[tuple[int, list[str]]]:
    """``(line number, stripped fields)`` of each non-blank row."""
    if '"' not in text and "\x00" not in text and text.count("\r") == text.count("\r\n"):
        lines = text.replace("\r\n", "\n").split("\n")
        if max(map(len, lines)) < csv.field_size_limit():  # else the csv module's own message
            return _plain_rows(lines)
    return _csv_rows(text, source)


def _plain_rows(lines: list[str]) -> list[tuple[int, list[str]]]:
    """``_csv_rows`` of a text without quotes, NUL or lone CR, whose lines are shorter than a csv
    field's limit: its fields are exactly the text between commas, so splitting reads it the same,
    several times faster (a 10,000-row upload)."""
    if sum(map(len, lines)) == len("".join("".join(lines).split())):  # no field has spaces to strip
        return [(number, line.split(",")) for number, line in enumerate(lines, start=1) if line.strip(",")]
    rows = []
    for number, line in enumerate(lines, start=1):
        fields = [field.strip() for field in line.split(",")]
        if any(fields):
            rows.append((number, fields))
    return rows


def _csv_rows(text: str, source: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        for row in reader:
            if any(field.strip() for field in row):
                rows.append((reader.line_num, [field.strip() for field in row]))
    except csv.Error as exc:
        raise SubmissionError(f"{source}, line {reader.line_num}: not a valid CSV ({exc})") from None
    return rows


def read_sample(path: str | Path) -> Sample:
    """Read the sample submission; its first column named ``id`` (or its first column) is the id."""
    path = Path(path)
    data = path.read_bytes()
    text = _decode(data, str(path))
    rows = [fields for _, fields in _rows(text, str(path))]
    if len(rows) < 2:
        raise SubmissionError(f"{path}: a sample submission needs a header and at least one row")
    columns = tuple(rows[0])
    id_column = "id" if "id" in columns else columns[0]
    others = [c for c in columns if c != id_column]
    if len(others) != 1:
        raise SubmissionError(f"{path}: a sample needs an id column and one label column, got {', '.join(columns)}")
    raw_first_line = text.splitlines()[0]
    at = columns.index(id_column)
    return Sample(columns=columns, id_column=id_column, label_column=others[0],
                  ids=tuple(row[at] for row in rows[1:]), header_line=raw_first_line,
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
    raise SubmissionError(f"{source}: expected columns {','.join(expected)}, got {','.join(header)} ({'; '.join(detail)})")


def check_ids(ids: list[str], sample: Sample, source: str) -> None:
    """Each sample id exactly once: duplicated, unknown and missing ids are named (the first few)."""
    seen, duplicated = set(), []
    for image_id in ids:
        (duplicated.append if image_id in seen else seen.add)(image_id)
    count = f"{len(ids):,} data row(s), expected {len(sample.ids):,}"
    if duplicated:
        unique = sorted(set(duplicated), key=duplicated.index)
        raise SubmissionError(f"{source}: {len(duplicated)} duplicated id row(s): {_listing(unique)} ({count})")
    expected = set(sample.ids)
    unknown = [i for i in ids if i not in expected]
    if unknown:
        raise SubmissionError(f"{source}: {len(unknown)} id(s) not in the sample submission: {_listing(unknown)} ({count})")
    missing = [i for i in sample.ids if i not in seen]
    if missing:
        raise SubmissionError(f"{source}: {count}; {len(missing)} id(s) of the sample submission missing: "
                              f"{_listing(missing)}")


def check_labels(labels: list[str], line_of: list[int], allowed: list[str], column: str, source: str) -> None:
    empty = [n for n, label in zip(line_of, labels) if label.lower() in MISSING]
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


def validate_submission(data: bytes, sample: Sample, classes: list, *, source: str = "submission",
                        max_bytes: int = MAX_BYTES) -> dict[str, str]:
    """Check ``data`` (a CSV's bytes) and return its predictions as ``{id: label}`` (text).

    ``classes``: the training classes (any type; compared as text). Raises ``SubmissionError``.
    """
    if len(data) > max_bytes:
        raise SubmissionError(f"{source}: {len(data):,} bytes, over the limit of {max_bytes:,}")
    rows = _rows(_decode(data, source), source)
    if not rows:
        raise SubmissionError(f"{source}: empty file")
    check_header(rows[0][1], sample, source)
    body = rows[1:]
    width = len(sample.columns)
    for line, row in body:
        if len(row) != width:
            raise SubmissionError(f"{source}, line {line}: {len(row)} field(s), expected {width} ({','.join(sample.columns)})")
    if not body:
        raise SubmissionError(f"{source}: no data rows, expected {len(sample.ids):,} (one per sample id)")
    at_id, at_label = sample.columns.index(sample.id_column), sample.columns.index(sample.label_column)
    ids = [row[at_id] for _, row in body]
    check_ids(ids, sample, source)
    labels = [row[at_label] for _, row in body]
    check_labels(labels, [line for line, _ in body], [str(c) for c in classes], sample.label_column, source)
    return dict(zip(ids, labels))
