"""The submission validator shared by submit and the grader: Kaggle-like messages for every defect."""

from __future__ import annotations

import re

import pytest

from competition.grade.validate import SubmissionError, read_sample, validate_submission

CLASSES = [0, 1, 2, 3]
IDS = ["0007", "0012", "0003", "0020", "0001"]


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "test_sample.csv"
    path.write_bytes(("id,class\r\n" + "".join(f"{i},0\r\n" for i in IDS)).encode())
    return read_sample(path)


def good(rows=None, header="id,class", end="\n"):
    rows = rows if rows is not None else [(i, str(n % 4)) for n, i in enumerate(IDS)]
    return (header + end + "".join(f"{a},{b}{end}" for a, b in rows)).encode()


def test_sample_format_is_read_as_written(sample):
    assert sample.ids == tuple(IDS) and sample.line_ending == "\r\n" and not sample.bom
    assert (sample.id_column, sample.label_column) == ("id", "class")


@pytest.mark.parametrize("data", [
    good(),
    good(end="\r\n"),
    b"\xef\xbb\xbf" + good(),
    good(rows=[(f" {i} ", f" {n % 4}") for n, i in enumerate(IDS)], header=" id , class "),
    good(rows=[(i, "1") for i in reversed(IDS)]),
    good() + b"\n\n",
])
def test_tolerated_variants(sample, data):
    assert set(validate_submission(data, sample, CLASSES)) == set(IDS)


MALFORMED = {
    "empty file": (b"", r"empty file"),
    "only whitespace": (b"  \n\n", r"empty file"),
    "not utf-8": (good().replace(b"0012", b"00\xe912"), r"not UTF-8 text \(byte \d+: 0xe9\)"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", r"not UTF-8 text"),
    "header renamed": (good(header="ID,label"),
                       r"expected columns id,class, got ID,label "
                       r"\(missing column\(s\) id, class; unexpected column\(s\) ID, label\)"),
    "missing column": ((("id\n" + "".join(f"{i}\n" for i in IDS)).encode()),
                       r"expected columns id,class, got id \(missing column\(s\) class\)"),
    "extra column": (good(header="id,class,confidence", rows=[(i, "1,0.9") for i in IDS]),
                     r"got id,class,confidence \(unexpected column\(s\) confidence\)"),
    "columns swapped": (good(header="class,id", rows=[("1", i) for i in IDS]),
                        r"got class,id \(columns in another order\)"),
    "duplicated column": (good(header="id,id"), r"got id,id \(missing column\(s\) class\)"),
    "ragged row": (good().replace(b"0020,3", b"0020,3,9"), r"line 5: 3 field\(s\), expected 2"),
    "short row": (good().replace(b"0020,3", b"0020"), r"line 5: 1 field\(s\), expected 2"),
    "header only": (b"id,class\n", r"no data rows, expected 5"),
    "too few rows": (good(rows=[(i, "1") for i in IDS[:3]]),
                     r"3 data row\(s\), expected 5; 2 id\(s\) of the sample submission missing: '0020', '0001'"),
    "too many rows": (good(rows=[(i, "1") for i in IDS] + [("0099", "1")]),
                      r"1 id\(s\) not in the sample submission: '0099' \(6 data row\(s\), expected 5\)"),
    "duplicated ids": (good(rows=[(i, "1") for i in IDS[:4]] + [("0007", "2")]),
                       r"1 duplicated id row\(s\): '0007' \(5 data row\(s\), expected 5\)"),
    "unknown id": (good(rows=[(i, "1") for i in IDS[:4]] + [("0xyz", "2")]),
                   r"1 id\(s\) not in the sample submission: '0xyz'"),
    "zero padding lost": (good(rows=[(i.lstrip("0"), "1") for i in IDS]),
                          r"5 id\(s\) not in the sample submission: '7', '12', '3' and 2 more"),
    "empty prediction": (good(rows=[(i, "" if n == 2 else "1") for n, i in enumerate(IDS)]),
                         r"line 4: empty or NaN prediction in column 'class'"),
    "NaN prediction": (good(rows=[(i, "NaN" if n >= 3 else "1") for n, i in enumerate(IDS)]),
                       r"line 5: empty or NaN prediction in column 'class' \(2 such rows\)"),
    "unknown class": (good(rows=[(i, "11" if n == 1 else "1") for n, i in enumerate(IDS)]),
                      r"line 3: '11' in column 'class' is not a class of this competition \(allowed: 0, 1, 2, 3\)"),
    "float class": (good(rows=[(i, "3.0") for i in IDS]),
                    r"line 2: '3.0' in column 'class' is not a class.*5 rows have unknown classes"),
    "class name instead of label": (good(rows=[(i, "Trouser") for i in IDS]),
                                    r"'Trouser' in column 'class' is not a class"),
    "too large": (good() + b"#" * 200, r"bytes, over the limit of 100"),
    "unterminated quote": (good() + b'"0001,2\n', r"not a valid CSV|field\(s\)"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_submission_is_refused_with_its_cause(sample, case):
    data, message = MALFORMED[case]
    limit = 100 if case == "too large" else 50 * 1024 * 1024
    with pytest.raises(SubmissionError, match=message):
        validate_submission(data, sample, CLASSES, source="sub.csv", max_bytes=limit)



@pytest.mark.parametrize("text", [
    "id,class\n1,2\n2,3\n", "id,class\r\n1,2\r\n2,3", "id,class\n\n1, 2 \n  \n,,\n2,3\n", "id,class\n1,2,\n 2 ,\t3\n",
    "id,class\n1,\u00a02\n", "id,class\n1\n2,3,4\n", "id,class\r1,2\r", 'id,class\n"1",2\n', "id,class\n1,\x002\n",
    "id,class\n1," + "9" * 200_000 + "\n", ",\n,,\n", "id\n", ""])
def test_the_fast_reading_of_plain_files_reads_them_as_the_csv_module_does(text):
    from competition.data.tables import csv_rows

    data = text.encode("utf-8")
    try:
        expected = csv_rows(data, "f.csv", SubmissionError, fast=False)
    except SubmissionError as exc:
        with pytest.raises(SubmissionError, match=re.escape(str(exc))):
            csv_rows(data, "f.csv", SubmissionError)
    else:
        assert csv_rows(data, "f.csv", SubmissionError) == expected
