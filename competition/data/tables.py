"""The one CSV reader, and the rules, of every table the toolkit reads: train.csv and the sample
submission (the loader, ``competition.data``), submissions (the validator, ``competition.grade.validate``),
the answer key (the grader, ``competition.grade``), and the label lists of ``prepare``'s sources.
A file one part accepts reads the same in every other: the same tolerated spellings, the same id
column, the same missing values, the same duplicate check. Each caller words its own errors
(``error``: the ``InputError`` to raise), naming the file, line and field.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from ..errors import InputError
from ..fsutil import read_regular
from .records import CompetitionDataError

MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "#n/a"})  # lowered; see is_missing


class CsvRow(NamedTuple):
    line: int  # the row's first line in the file, from 1
    fields: list[str]  # stripped of surrounding spaces
    text: str  # as written, without its line end


def csv_rows(data: bytes, source: str, error: type[InputError] = CompetitionDataError,
             fast: bool = True) -> list[CsvRow]:
    """The non-blank rows of a CSV's bytes: the one reader, and its rules, of every CSV the toolkit
    reads (train.csv, the sample submission, submissions, the answer key), so that a file one part
    accepts reads the same in every other. Tolerated, as Kaggle does: a UTF-8 BOM, CRLF or LF line
    ends, spaces around values, blank lines anywhere. ``error``: the ``InputError`` to raise.
    A text without quotes, NUL or a lone CR is split by hand (several times faster on a 10,000-row
    upload; its fields are exactly the text between commas); ``fast=False`` always uses the csv module."""
    if not data.strip():
        raise error(f"{source}: empty file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{source}: not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x}); "
                    "save the CSV as UTF-8") from None
    if fast and '"' not in text and "\x00" not in text and text.count("\r") == text.count("\r\n"):
        plain = text.replace("\r\n", "\n").split("\n")
        if max(map(len, plain)) < csv.field_size_limit():  # else the csv module's own message
            rows = [CsvRow(number, [value.strip() for value in line.split(",")], line)
                    for number, line in enumerate(plain, start=1) if line.replace(",", "").strip()]
            if not rows:
                raise error(f"{source}: empty file")
            return rows
    lines = io.StringIO(text, newline="").readlines()  # split where the csv module counts lines
    reader = csv.reader(lines)
    rows, start = [], 0
    try:
        for fields in reader:
            if any(value.strip() for value in fields):
                raw = "".join(lines[start:reader.line_num]).removesuffix("\n").removesuffix("\r")
                rows.append(CsvRow(start + 1, [value.strip() for value in fields], raw))
            start = reader.line_num
    except csv.Error as exc:
        raise error(f"{source}, line {reader.line_num}: not a valid CSV ({exc})") from None
    if not rows:
        raise error(f"{source}: empty file")
    return rows


def read_csv(path: Path, error: type[InputError] = CompetitionDataError) -> dict[str, list[str]]:
    """A CSV file as text columns (header -> values), read by ``csv_rows``'s rules; every row must
    have the header's number of fields. Plain lists: 10x faster to check than pandas' string columns."""
    rows = csv_rows(read_regular(path), str(path), error)
    header = rows[0].fields
    twice = sorted(set(repeats(header)))
    if twice:
        raise error(f"{path}: column(s) {', '.join(twice)} named twice in the header")
    odd = misfit(rows[1:], len(header))
    if odd:
        raise error(f"{path}, line {odd.line}: not a valid CSV "
                    f"({len(odd.fields)} field(s), the header has {len(header)})")
    return {name: [row.fields[at] for row in rows[1:]] for at, name in enumerate(header)}


def misfit(rows: list[CsvRow], width: int) -> CsvRow | None:
    """The first row without ``width`` fields (the header's), if any."""
    return next((row for row in rows if len(row.fields) != width), None)


def id_column_of(columns: Sequence[str]) -> str:
    """Which column holds the ids: the one named ``id``, else the first (the sample submission's
    rule, for the loader, the validator and the grader alike)."""
    return "id" if "id" in columns else columns[0]


def is_missing(value: str) -> bool:
    """Whether a field reads as no value (empty, ``NaN``, ``N/A``, ``null``...): refused as a label
    or a prediction, since pandas and Kaggle's own readers turn these into NaN."""
    return value.lower() in MISSING


def repeats(values: Iterable[str]) -> list[str]:
    """Every value met again after its first time, each time it is, in order: the duplicate check
    of ids, columns and names (empty when all differ)."""
    seen, again = set(), []
    for value in values:
        (again.append if value in seen else seen.add)(value)
    return again


# --- CSVs the host opens in a spreadsheet ---
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes Excel, LibreOffice or Sheets run a cell


def spreadsheet_safe(value):
    """A cell a spreadsheet shows and never runs: text that starts as a formula would (``=HYPERLINK``,
    ``@SUM``, ``-1+2``, a tab or CR first) gets a leading ``'``, as OWASP advises. Numbers stay
    numbers (a score of ``-0.5`` is a value, not a formula); only text a student or host typed can
    carry one."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def host_csv(columns: Sequence[str], rows: Iterable[dict]) -> str:
    """The text of a CSV a host opens (an export's tables, a roster's tokens): a header of
    ``columns``, then each row's values for them (None: empty), every cell ``spreadsheet_safe``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([spreadsheet_safe(column) for column in columns])
    writer.writerows([spreadsheet_safe(row.get(column)) for column in columns] for row in rows)
    return out.getvalue()
