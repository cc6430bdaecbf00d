"""One CSV reader and one rule set (``competition.data.tables``) for the loader, the validator and the
grader: a table one of them accepts or refuses, the others read the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from competition.grade.answer_key import AnswerKeyError, read_solution
from competition.grade.grader import Grader
from competition.data.loader import load_competition
from competition.data.records import CompetitionDataError
from competition.grade.validate import SubmissionError, read_sample, validate_submission
from tests.helpers import make_competition

TRAIN = {f"r{i}": "ab"[i % 2] for i in range(6)}
TEST = ["t0", "t1", "t2", "t3"]


def label_first(path: Path, rows: list[tuple[str, str]], extra: str = "") -> None:
    """Rewrite ``path`` with the label column before the id column (``class,id``)."""
    path.write_text("class,id" + (",Usage" if extra else "") + "\n"
                    + "".join(f"{label},{image_id}{',' + extra if extra else ''}\n" for image_id, label in rows))


@pytest.fixture
def swapped(tmp_path) -> tuple[Path, Path]:
    """A competition whose CSVs write ``class,id`` (the id column second), and its answer key."""
    root, _ = make_competition(tmp_path / "swapped", TRAIN, TEST, shape=(4, 4, 1))
    label_first(root / "train.csv", list(TRAIN.items()))
    label_first(root / "test_sample.csv", [(i, "a") for i in TEST])
    key = tmp_path / "solution.csv"
    key.write_text("class,id,Usage\n" + "".join(f"{'ab'[n % 2]},{i},{['Public', 'Private'][n % 2]}\n"
                                                  for n, i in enumerate(TEST)))
    return root, key


def test_the_id_column_is_the_one_named_id_for_loader_validator_and_grader(swapped):
    root, key = swapped
    comp = load_competition(root, cache=False, min_class_rows=2)
    assert comp.train_ids.tolist() == list(TRAIN) and comp.test_ids.tolist() == TEST
    sample = read_sample(root / "test_sample.csv")
    assert (sample.id_column, sample.label_column, sample.ids) == ("id", "class", tuple(TEST))
    submission = ("class,id\n" + "".join(f"b,{i}\n" for i in TEST)).encode()
    assert validate_submission(submission, sample, ["a", "b"]) == {i: "b" for i in TEST}
    grader = Grader(root, key)
    assert grader.solution["id"].tolist() == TEST


@pytest.mark.parametrize("missing", ["", "NaN", "n/a", "NULL", "None", "#N/A", "na"])
def test_a_missing_value_is_refused_alike_as_a_label_a_prediction_and_an_answer(swapped, missing):
    root, key = swapped
    label_first(root / "train.csv", [(i, missing if i == "r3" else label) for i, label in TRAIN.items()])
    with pytest.raises(CompetitionDataError, match=r"train.csv, line 5: empty or NaN label in column 'class'"):
        load_competition(root, cache=False, min_class_rows=2)
    sample = read_sample(root / "test_sample.csv")
    submission = ("class,id\n" + "".join(f"{missing if i == 't1' else 'a'},{i}\n" for i in TEST)).encode()
    with pytest.raises(SubmissionError, match=r"line 3: empty or NaN prediction in column 'class'"):
        validate_submission(submission, sample, ["a", "b"])
    key.write_text(key.read_text().replace("b,t1,", f"{missing},t1,"))
    with pytest.raises(AnswerKeyError, match=r"line 3: empty or NaN prediction in column 'class'"):
        read_solution(key, sample, ["a", "b"])


def test_a_repeated_id_is_refused_by_loader_validator_and_grader(swapped):
    root, key = swapped
    rows = list(TRAIN.items())
    label_first(root / "train.csv", rows[:-1] + [("r1", "b")])
    with pytest.raises(CompetitionDataError, match=r"duplicate id 'r1' on lines 3, 7"):
        load_competition(root, cache=False, min_class_rows=2)
    sample = read_sample(root / "test_sample.csv")
    submission = ("class,id\n" + "".join(f"a,{i}\n" for i in TEST[:-1] + ["t0"])).encode()
    with pytest.raises(SubmissionError, match=r"1 duplicated id row\(s\): 't0'"):
        validate_submission(submission, sample, ["a", "b"])
    key.write_text(key.read_text().replace(",t3,", ",t0,"))
    with pytest.raises(AnswerKeyError, match=r"1 duplicated id row\(s\): 't0'"):
        read_solution(key, sample, ["a", "b"])


def test_an_answer_key_that_is_not_a_valid_csv_is_refused_as_an_answer_key(swapped):
    root, key = swapped
    key.write_text("class,id,Usage\na,t0\n")
    with pytest.raises(AnswerKeyError,
                       match=r"solution.csv, line 2: not a valid CSV \(2 field\(s\), the header has 3\)"):
        read_solution(key, read_sample(root / "test_sample.csv"), ["a", "b"])


def test_a_csv_the_host_opens_neutralises_formulas_and_keeps_numbers_numbers():
    from competition.data.tables import host_csv

    rows = [{"text": text, "score": score} for text, score in
            (("=HYPERLINK(1)", -0.5), ("@SUM(A1)", 0.25), ("+1", None), ("-1+2", -3), ("\tx", 1.0), ("\rx", 0),
             ("a-b", 2))]
    assert host_csv(("text", "score"), rows).split("\n") == [
        "text,score", "'=HYPERLINK(1),-0.5", "'@SUM(A1),0.25", "'+1,", "'-1+2,-3", "'\tx,1.0", "'\rx,0", "a-b,2", ""]
