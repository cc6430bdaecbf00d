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
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import ledger
from .data import CompetitionDataError, Layout, read_tables
from .validate import SubmissionError, read_sample, validate_submission


def accuracy(truth: list[str], predicted: list[str]) -> float:
    return float(np.mean(np.asarray(truth) == np.asarray(predicted)))


METRICS: dict[str, Callable[[list[str], list[str]], float]] = {"accuracy": accuracy}


def read_solution(path: Path) -> pd.DataFrame:
    """The answer key: ``id``, the label column and ``Usage`` (Public/Private), all as text."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no answer key (python -m competition.prepare writes it)")
    solution = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    solution.columns = [c.strip() for c in solution.columns]
    if "Usage" not in solution.columns or len(solution.columns) != 3:
        raise ValueError(f"{path}: expected columns id,<label>,Usage, got {','.join(solution.columns)}")
    return solution.apply(lambda column: column.str.strip())


def score(predictions: dict[str, str], solution: pd.DataFrame, metric: str = "accuracy") -> dict[str, float]:
    """Public and private scores of validated ``predictions`` (id -> label text): one pure function
    for the command line and any server."""
    id_column, label_column = solution.columns[0], solution.columns[1]
    result = {}
    for usage in ("Public", "Private"):
        part = solution[solution["Usage"] == usage]
        result[usage.lower()] = METRICS[metric](part[label_column].tolist(),
                                                [predictions[i] for i in part[id_column]])
    return result


class Grader:
    """Grades files of one competition: sample, classes and answer key read once."""

    def __init__(self, data: Path, solution: Path | None = None, metric: str = "accuracy",
                 ledger_path: Path = ledger.LEDGER, daily_limit: int | None = None):
        layout = Layout(data)
        self.data, self.metric, self.ledger_path, self.daily_limit = data, metric, ledger_path, daily_limit
        self.sample = read_sample(layout.sample_csv)
        self.classes = np.unique(read_tables(layout)["y_train"]).tolist()
        self.solution = read_solution(solution or data.with_name(data.name + ".grader") / "solution.csv")
        self.public_rows = int((self.solution["Usage"] == "Public").sum())

    def grade(self, path: Path, message: str = "") -> dict:
        """Validate, score and record ``path``; return its ledger entry."""
        entry = {"event": "grade", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "file": str(path),
                 "message": message, "metric": self.metric, **sidecar_of(path)}
        try:
            data = path.read_bytes()
        except OSError as exc:
            return self._record({**entry, "status": "error", "error": f"{path}: cannot be read ({exc.strerror})"})
        entry["sha256"] = hashlib.sha256(data).hexdigest()
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


def sidecar_of(path: Path) -> dict:
    """Name, recipe and CV score from the submission's ``.json`` sidecar, when it has one."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {"name": path.stem, "recipe": None, "cv": None}
    meta = json.loads(sidecar.read_text())
    return {"name": meta.get("name", path.stem), "recipe": meta.get("recipe"), "cv": meta.get("cv")}


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
    parser = argparse.ArgumentParser(prog="python -m competition.grade",
                                     description="Validate and score submission CSVs; record them and redraw leaderboard.md.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="submission CSV(s)")
    parser.add_argument("--data", type=Path, default=Path("data/fashion-mnist"), metavar="DIR",
                        help="competition folder (default data/fashion-mnist)")
    parser.add_argument("--solution", type=Path, metavar="CSV", help="answer key (default <data>.grader/solution.csv)")
    parser.add_argument("--reveal", action="store_true", help="show private scores (and from now on on the leaderboard)")
    parser.add_argument("--message", default="", metavar="M", help="a note stored with each graded file")
    parser.add_argument("--daily-limit", type=int, metavar="N", help="at most N counted submissions a day (off by default)")
    parser.add_argument("--metric", choices=list(METRICS), default="accuracy", help="score (default accuracy)")
    parser.add_argument("--ledger", type=Path, default=ledger.LEDGER, metavar="JSONL", help=f"ledger file (default {ledger.LEDGER})")
    parser.add_argument("--leaderboard", type=Path, default=Path("leaderboard.md"), metavar="MD",
                        help="leaderboard to redraw (default leaderboard.md)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from .leaderboard import write_leaderboard

    args = build_parser().parse_args(argv)
    try:
        grader = Grader(args.data, args.solution, args.metric, args.ledger, args.daily_limit)
    except (CompetitionDataError, SubmissionError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    entries = [grader.grade(path, args.message) for path in args.files]
    if args.reveal:
        with ledger.lock(args.ledger):
            if not ledger.revealed(ledger.read(args.ledger)):
                ledger.append({"event": "reveal", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, args.ledger)
    everything = ledger.read(args.ledger)
    for entry in entries:
        print(report(entry, everything, args.reveal), file=sys.stdout if entry["status"] == ledger.COUNTED else sys.stderr)
    write_leaderboard(everything, args.leaderboard, title=args.data.name)
    print(f"leaderboard: {args.leaderboard}")
    return 0 if all(e["status"] in (ledger.COUNTED, "duplicate") for e in entries) else 1


if __name__ == "__main__":
    sys.exit(main())
