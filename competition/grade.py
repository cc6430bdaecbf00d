"""Grade submissions locally against the answer key, Kaggle-style: public and private scores.

    python -m competition.grade FILE [FILE ...] [--data DIR] [--solution PATH] [--reveal]
                                [--message M] [--daily-limit N] [--metric accuracy]

A file is first validated against the sample submission (``competition.validate``, the checks
``submit`` runs too); a file that fails is recorded as an error and counts against no quota. A
valid file is scored on the answer key's ``Public`` rows and on its ``Private`` rows; private
scores are shown only with ``--reveal``. Every graded file goes into the ledger
(``submissions/ledger.jsonl``), and ``leaderboard.md`` is redrawn from it. The answer key's labels
are never printed or copied anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import cli, ledger
from .data import Layout, read_csv, read_tables
from .errors import InputError, InputWarning
from .validate import Sample, SubmissionError, check_ids, check_labels, read_sample, validate_submission

USAGES = ("Public", "Private")


class AnswerKeyError(InputError):
    """An answer key that does not fit the competition: scoring with it would give wrong scores."""


def accuracy(truth: list[str], predicted: list[str]) -> float:
    return float(np.mean(np.asarray(truth) == np.asarray(predicted)))


METRICS: dict[str, Callable[[list[str], list[str]], float]] = {"accuracy": accuracy}


def read_solution(path: Path, sample: Sample, classes: list) -> pd.DataFrame:
    """The answer key (``id``, the label column, ``Usage``; all text), checked like a submission:
    the sample's columns, every sample id once, only known classes, and Public and Private rows only."""
    if not path.is_file():
        raise AnswerKeyError(f"{path}: no answer key (python -m competition.prepare writes it)")
    table = read_csv(path)
    expected = [sample.id_column, sample.label_column, "Usage"]
    if sorted(table) != sorted(expected):
        raise AnswerKeyError(f"{path}: expected columns {','.join(expected)}, got {','.join(table)}")
    ids, labels, usage = (table[column] for column in expected)
    source = f"answer key {path}"
    try:
        check_ids(ids, sample, source)
        check_labels(labels, list(range(2, len(labels) + 2)), [str(c) for c in classes], sample.label_column, source)
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
    return pd.DataFrame({sample.id_column: ids, sample.label_column: labels, "Usage": usage})


def score(predictions: dict[str, str], solution: pd.DataFrame, metric: str = "accuracy") -> dict[str, float]:
    """Public and private scores of validated ``predictions`` (id -> label text): one pure function
    for the command line and any server."""
    id_column, label_column = solution.columns[0], solution.columns[1]
    result = {}
    for usage in USAGES:
        part = solution[solution["Usage"] == usage]
        result[usage.lower()] = METRICS[metric](part[label_column].tolist(),
                                                [predictions[i] for i in part[id_column]])
    return result


class Grader:
    """Grades files of one competition: sample, classes and answer key read (and checked) once."""

    def __init__(self, data: Path, solution: Path | None = None, metric: str = "accuracy",
                 ledger_path: Path = ledger.LEDGER, daily_limit: int | None = None):
        layout = Layout(Path(data))
        layout.check_exists()
        if daily_limit is not None and daily_limit < 1:
            raise InputError(f"--daily-limit must be at least 1, got {daily_limit}")
        self.data, self.metric, self.ledger_path, self.daily_limit = layout.root, metric, ledger_path, daily_limit
        self.sample = read_sample(layout.sample_csv)
        self.classes = np.unique(read_tables(layout)["y_train"]).tolist()
        key = solution or layout.root.with_name(layout.root.name + ".grader") / "solution.csv"
        self.solution = read_solution(Path(key), self.sample, self.classes)
        self.public_rows = int((self.solution["Usage"] == "Public").sum())

    def grade(self, path: Path, message: str = "") -> dict:
        """Validate, score and record ``path``; return its ledger entry."""
        entry = {"event": "grade", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "file": str(path),
                 "message": message, "metric": self.metric, "name": path.stem, "recipe": None, "cv": None}
        try:
            data = path.read_bytes()
        except OSError as exc:
            return self._record({**entry, "status": "error", "error": f"{path}: cannot be read ({exc.strerror})"})
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        entry.update(read_sidecar(path, entry["sha256"]))
        with ledger.lock(self.ledger_path):
            entries = ledger.read(self.ledger_path)
            earlier = [e for e in ledger.graded(entries) if e["sha256"] == entry["sha256"]]
            if earlier:
                return self._record({**entry, "status": "duplicate", "public": earlier[0]["public"],
                                     "error": f"same file as {earlier[0]['file']} graded {earlier[0]['time']}; not counted"})
            try:
                predictions = validate_submission(data, self.sample, self.classes, source=str(path))
            except SubmissionError as exc:
                return self._record({**entry, "status": "error", "error": str(exc)})
            today = time.strftime("%Y-%m-%d")
            used = sum(1 for e in ledger.graded(entries) if e["time"].startswith(today))
            if self.daily_limit is not None and used >= self.daily_limit:
                return self._record({**entry, "status": "over-limit",
                                     "error": f"daily limit of {self.daily_limit} graded submissions reached; try tomorrow"})
            return self._record({**entry, "status": ledger.COUNTED, **score(predictions, self.solution, self.metric),
                                 "public_rows": self.public_rows, "private_rows": len(self.solution) - self.public_rows})

    def _record(self, entry: dict) -> dict:
        ledger.append(entry, self.ledger_path)
        return entry


def _unit_interval(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1


def sidecar_problem(meta, sha256: str) -> str | None:
    """Why a sidecar cannot be trusted for this file, or None."""
    if not isinstance(meta, dict):
        return "not a JSON object"
    if meta.get("sha256") != sha256:
        return ("it describes another file (its sha256 differs from the CSV's: was the CSV changed after "
                "submit?)" if meta.get("sha256") else "it has no sha256 to prove it belongs to the CSV")
    cv = meta.get("cv")
    if cv is not None and not (isinstance(cv, dict) and _unit_interval(cv.get("accuracy_mean"))
                               and _unit_interval(cv.get("accuracy_std"))
                               and isinstance(cv.get("oof_rows", 0), int) and cv.get("oof_rows", 0) >= 0):
        return "its CV score is not a number between 0 and 1"
    if not isinstance(meta.get("name", ""), str) or not isinstance(meta.get("recipe") or {}, dict):
        return "its name or recipe is malformed"
    return None


def read_sidecar(path: Path, sha256: str) -> dict:
    """Name, recipe and CV score from the submission's ``.json`` sidecar, when it has one that
    belongs to exactly these bytes; otherwise nothing, with a warning saying why it was ignored."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        why = f"cannot be read ({exc})"
    else:
        why = sidecar_problem(meta, sha256)
    if why:
        warnings.warn(f"{sidecar}: ignored, {why}; {path} is graded without a recipe or CV score",
                      InputWarning, stacklevel=2)
        return {}
    return {"name": meta.get("name") or path.stem, "recipe": meta.get("recipe"), "cv": meta.get("cv")}


def rank_of(entry: dict, entries: list[dict]) -> tuple[int, int]:
    scored = ledger.graded(entries)
    return 1 + sum(1 for e in scored if e["public"] > entry["public"]), len(scored)


def report(entry: dict, entries: list[dict], reveal: bool) -> str:
    name = entry["file"]
    if entry["status"] != ledger.COUNTED:
        error = entry["error"]
        return f"{entry['status']}: {error}" if error.startswith(name) else f"{name}: {entry['status']}: {error}"
    rank, total = rank_of(entry, entries)
    text = f"{name}: public {entry['metric']} {entry['public']:.4f} (rank {rank} of {total})"
    cv = entry.get("cv")
    if cv:
        text += (f", CV {cv['accuracy_mean']:.4f} +- {cv['accuracy_std']:.4f}, "
                 f"public - CV {entry['public'] - cv['accuracy_mean']:+.4f}")
    text += f"\n  private {entry['private']:.4f}" if reveal else "\n  private: hidden (--reveal shows it)"
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(prog="python -m competition.grade",
                                     description="Validate and score submission CSVs; record them and redraw leaderboard.md.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="submission CSV(s)")
    parser.add_argument("--data", type=Path, default=cli.DATA, metavar="DIR", help=f"competition folder (default {cli.DATA})")
    parser.add_argument("--solution", type=Path, metavar="CSV", help="answer key (default <data>.grader/solution.csv)")
    parser.add_argument("--reveal", action="store_true", help="show private scores (and from now on on the leaderboard)")
    parser.add_argument("--message", default="", metavar="M", help="a note stored with each graded file")
    parser.add_argument("--daily-limit", type=cli.int_at_least(1), metavar="N",
                        help="at most N counted submissions a day (off by default)")
    parser.add_argument("--metric", choices=list(METRICS), default="accuracy", help="score (default accuracy)")
    parser.add_argument("--ledger", type=Path, default=ledger.LEDGER, metavar="JSONL", help=f"ledger file (default {ledger.LEDGER})")
    parser.add_argument("--leaderboard", type=Path, default=Path("leaderboard.md"), metavar="MD",
                        help="leaderboard to redraw (default leaderboard.md)")
    return parser


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    from .leaderboard import check_replaceable, write_leaderboard

    args = build_parser().parse_args(argv)
    check_replaceable(args.leaderboard)
    ledger.check(args.ledger)
    grader = Grader(args.data, args.solution, args.metric, args.ledger, args.daily_limit)
    entries = [grader.grade(path, args.message) for path in args.files]
    with ledger.lock(args.ledger):  # the board is drawn from the whole ledger, never from a stale read
        if args.reveal and not ledger.revealed(ledger.read(args.ledger)):
            ledger.append({"event": "reveal", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, args.ledger)
        everything = ledger.read(args.ledger)
        write_leaderboard(everything, args.leaderboard, title=grader.data.name)
    for entry in entries:
        print(report(entry, everything, args.reveal), file=sys.stdout if entry["status"] == ledger.COUNTED else sys.stderr)
    print(f"leaderboard: {args.leaderboard}")
    return 0 if all(e["status"] in (ledger.COUNTED, "duplicate") for e in entries) else 1


if __name__ == "__main__":
    sys.exit(main())
