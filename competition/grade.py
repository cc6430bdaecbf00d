"""Grade submissions against the answer key, Kaggle-style: public and private scores.

    python -m competition.grade FILE [FILE ...] [--data DIR] [--solution PATH] [--reveal]
                                [--message M] [--daily-limit N] [--metric accuracy]

One grading core, two front doors. ``Grader.grade`` takes a submission's bytes and a team,
validates them with the checks ``submit`` runs too (``competition.validate``), scores them
(``score``) and records them through a ``Storage``: the local ledger (``competition.ledger``, this
command) or the grader server's SQLite store (``competition.server``). A file that fails validation
is recorded with its error and counts against no quota; the same bytes from the same team return
the earlier result, not counted again; the daily limit counts per UTC day, and a refusal says when
it resets. Private scores are kept only by the grader and shown after the reveal; the answer key's
labels are never printed or copied anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import warnings
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import pandas as pd

from . import cli, clock, ledger
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
                                                [predictions[i] for i in part[id_column].tolist()])
    return result


def predictions_digest(predictions: dict) -> str:
    """What makes two uploads the same submission: the ids and their predictions, whatever the
    bytes (line ends, a BOM, quoting, row order). Used with ``Storage.find`` for duplicates."""
    lines = sorted(f"{key}\x1f{value if isinstance(value, str) else repr(value)}" for key, value in predictions.items())
    return hashlib.sha256("\x1e".join(lines).encode("utf-8")).hexdigest()


class Storage(Protocol):
    """Where graded submissions are kept: the local ledger (``ledger.Ledger``) or the server's
    SQLite store (``server.store.Store``). ``transaction`` serialises the read-then-write of one
    grading, so duplicates and the daily limit hold under concurrent graders."""

    def transaction(self) -> AbstractContextManager: ...

    def find(self, team: str, digest: str) -> dict | None: ...  # the team's earlier counted file of these predictions

    def counted_since(self, team: str, since: datetime) -> int: ...

    def failed_since(self, team: str, since: datetime) -> int: ...

    def add(self, entry: dict, data: bytes) -> dict: ...  # records (and keeps the file); the entry with its id


class Grader:
    """Grades submissions of one competition: sample, classes and answer key read (and checked) once.

    ``daily_limit``: counted submissions per team and UTC day (None: no limit). ``failed_limit``:
    failed uploads per team and UTC day (they cost no quota, but are capped against abuse).
    """

    def __init__(self, data: Path, solution: Path | None = None, metric: str = "accuracy",
                 daily_limit: int | None = None, failed_limit: int | None = None):
        layout = Layout(Path(data))
        layout.check_exists()
        for name, limit in (("--daily-limit", daily_limit), ("failed-upload limit", failed_limit)):
            if limit is not None and limit < 1:
                raise InputError(f"{name} must be at least 1, got {limit}")
        self.data, self.metric, self.daily_limit, self.failed_limit = layout.root, metric, daily_limit, failed_limit
        self.sample = read_sample(layout.sample_csv)
        # which competition a ledger entry belongs to: the folder's name and its sample's ids
        self.competition = f"{layout.root.name}:{hashlib.sha256(layout.sample_csv.read_bytes()).hexdigest()[:12]}"
        self.classes = np.unique(read_tables(layout)["y_train"]).tolist()
        key = solution or layout.root.with_name(layout.root.name + ".grader") / "solution.csv"
        self.solution_path = Path(key)
        self.solution = read_solution(self.solution_path, self.sample, self.classes)
        self.public_rows = int((self.solution["Usage"] == "Public").sum())

    def grade(self, data: bytes, storage: Storage, *, team: str = ledger.LOCAL_TEAM, file: str = "",
              name: str = "", message: str = "", extra: dict | None = None, now: datetime | None = None,
              daily_limit: int | None = None, failed_limit: int | None = None) -> dict:
        """Validate, score and record ``data``; return its entry, with ``duplicate`` (an earlier
        result of the same predictions), ``submissions_left_today`` and ``resets_at`` added. Status
        ``ok`` (counted), ``error`` (recorded, not counted) or ``over-limit`` (not recorded).
        ``daily_limit``/``failed_limit`` replace the grader's own for this call (a server whose
        limits are changed while it runs)."""
        daily_limit, failed_limit = daily_limit or self.daily_limit, failed_limit or self.failed_limit
        now = now or clock.now()
        start, resets = clock.day(now)
        sha256 = hashlib.sha256(data).hexdigest()
        entry = {"event": "grade", "time": clock.iso(now), "competition": self.competition, "team": team,
                 "file": file, "name": name or sha256[:12],
                 "message": message, "metric": self.metric, "sha256": sha256, "recipe": None, "cv": None,
                 **(extra or {})}
        try:  # outside the transaction: validation is pure and the slow part
            predictions, problem = validate_submission(data, self.sample, self.classes, source=file or "upload"), None
        except SubmissionError as exc:
            predictions, problem = None, str(exc)
        digest = sha256 if predictions is None else predictions_digest(predictions)
        entry["digest"] = digest
        with storage.transaction():
            used = storage.counted_since(team, start)
            quota = {"resets_at": clock.iso(resets),
                     "submissions_left_today": None if daily_limit is None else max(0, daily_limit - used)}
            earlier = storage.find(team, digest)
            if earlier is not None:
                return {**earlier, **quota, "duplicate": True}
            if problem is not None:
                if failed_limit is not None and storage.failed_since(team, start) >= failed_limit:
                    return self._refused(entry, quota, f"{failed_limit} failed uploads today", now, resets)
                return {**storage.add({**entry, "status": "error", "error": problem}, data), **quota, "duplicate": False}
            if daily_limit is not None and used >= daily_limit:
                return self._refused(entry, quota, f"daily limit of {daily_limit} graded submissions reached",
                                     now, resets)
            scored = storage.add({**entry, "status": ledger.COUNTED, **score(predictions, self.solution, self.metric),
                                  "public_rows": self.public_rows,
                                  "private_rows": len(self.solution) - self.public_rows}, data)
            if daily_limit is not None:
                quota["submissions_left_today"] -= 1
        return {**scored, **quota, "duplicate": False}

    @staticmethod
    def _refused(entry: dict, quota: dict, why: str, now: datetime, resets: datetime) -> dict:
        return {**entry, **quota, "status": "over-limit", "duplicate": False,
                "error": f"{why}; the limit resets at {clock.iso(resets)} (UTC midnight, in {clock.until(now, resets)})"}

    def private_score(self, data: bytes) -> float:
        """The private score of a file graded before (for the reveal of a storage that kept files only)."""
        predictions = validate_submission(data, self.sample, self.classes, source="kept file")
        return score(predictions, self.solution, self.metric)["private"]


def sidecar_problem(meta, sha256: str) -> str | None:
    """Why a sidecar cannot be trusted for this file, or None."""
    if not isinstance(meta, dict):
        return "not a JSON object"
    if meta.get("sha256") != sha256:
        return ("it describes another file (its sha256 differs from the CSV's: was the CSV changed after "
                "submit?)" if meta.get("sha256") else "it has no sha256 to prove it belongs to the CSV")
    if meta.get("cv") is not None and not ledger.valid_cv(meta["cv"]):
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


def grade_file(grader: Grader, storage: Storage, path: Path, message: str = "") -> dict:
    """Grade the file ``path`` (with its sidecar's recipe and CV score when the sidecar belongs to it)."""
    if path.exists() and not path.is_file():  # a folder, a pipe with no writer (reading it would hang)
        return {"file": str(path), "status": "error", "duplicate": False,
                "error": f"{path}: not a regular file; not graded"}
    try:
        data = path.read_bytes()
    except OSError as exc:
        return {"file": str(path), "status": "error", "duplicate": False,
                "error": f"{path}: cannot be read ({exc.strerror}); not graded"}
    extra = read_sidecar(path, hashlib.sha256(data).hexdigest())
    result = grader.grade(data, storage, file=str(path), name=extra.pop("name", path.stem), message=message,
                          extra=extra)
    return {**result, "submitted": str(path)}


def rank_of(entry: dict, entries: list[dict]) -> tuple[int, int]:
    scored = ledger.graded(entries)
    return 1 + sum(1 for e in scored if e["public"] > entry["public"]), len(scored)


def report(entry: dict, entries: list[dict], reveal: bool) -> str:
    """What the command line prints for one graded file."""
    name = entry.get("submitted") or entry["file"]
    if entry["status"] != ledger.COUNTED:
        error = entry["error"]
        return f"{entry['status']}: {error}" if error.startswith(name) else f"{name}: {entry['status']}: {error}"
    rank, total = rank_of(entry, entries)
    head = (f"{name}: duplicate of {entry['file']} graded {entry['time']}, not counted again; its public "
            if entry.get("duplicate") else f"{name}: public ")
    text = head + f"{entry['metric']} {entry['public']:.4f} (rank {rank} of {total})"
    cv = entry.get("cv")
    if cv:
        text += (f", CV {cv['accuracy_mean']:.4f} +- {cv['accuracy_std']:.4f}, "
                 f"public - CV {entry['public'] - cv['accuracy_mean']:+.4f}")
    if entry.get("submissions_left_today") is not None:
        text += f"\n  {entry['submissions_left_today']} submission(s) left today (resets {entry['resets_at']})"
    private = entry.get("private")
    text += (f"\n  private {private:.4f}" if reveal and private is not None
             else "\n  private: hidden (--reveal shows it)")
    return text


def grade_files(paths: list[Path], grader: Grader, *, ledger_path: Path = ledger.LEDGER,
                leaderboard_path: Path = Path("leaderboard.md"), message: str = "", reveal: bool = False) -> int:
    """The local grader: grade ``paths`` into the ledger, reveal if asked, redraw the leaderboard
    from the whole ledger (inside its lock), print one report per file; the exit code."""
    from .leaderboard import write_leaderboard

    store = ledger.Ledger(ledger_path)
    others = sorted({e["competition"] for e in store.entries() if e.get("competition", grader.competition)
                     != grader.competition})
    if others:
        raise InputError(f"--ledger {ledger_path}: holds submissions of another competition ({others[0]}), not "
                         f"{grader.competition}; give this one its own --ledger and --leaderboard")
    results = [grade_file(grader, store, path, message) for path in paths]
    with store.transaction():  # the board is drawn from the whole ledger, never from a stale read
        if reveal:
            store.reveal(grader.private_score)
        everything = store.entries()
        write_leaderboard(everything, leaderboard_path, title=grader.data.name)
    revealed = ledger.revealed(everything)
    private = {e["sha256"]: e.get("private") for e in ledger.graded(everything)}
    for result in results:
        if result["status"] == ledger.COUNTED:
            result = {**result, "private": private.get(result["sha256"])}
        print(report(result, everything, revealed),
              file=sys.stdout if result["status"] == ledger.COUNTED else sys.stderr)
    print(f"leaderboard: {leaderboard_path}")
    return 0 if all(r["status"] == ledger.COUNTED for r in results) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(prog="python -m competition.grade",
                                     description="Validate and score submission CSVs; record them and redraw leaderboard.md.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="submission CSV(s)")
    parser.add_argument("--data", type=Path, default=cli.DATA, metavar="DIR", help=f"competition folder (default {cli.DATA})")
    parser.add_argument("--solution", type=Path, metavar="CSV", help="answer key (default <data>.grader/solution.csv)")
    parser.add_argument("--reveal", action="store_true",
                        help="end the competition: score the kept files on the private rows and show them from now on")
    parser.add_argument("--message", default="", metavar="M", help="a note stored with each graded file")
    parser.add_argument("--daily-limit", type=cli.int_at_least(1), metavar="N",
                        help="at most N counted submissions a UTC day (off by default)")
    parser.add_argument("--metric", choices=list(METRICS), default="accuracy", help="score (default accuracy)")
    parser.add_argument("--ledger", type=Path, default=ledger.LEDGER, metavar="JSONL", help=f"ledger file (default {ledger.LEDGER})")
    parser.add_argument("--leaderboard", type=Path, default=Path("leaderboard.md"), metavar="MD",
                        help="leaderboard to redraw (default leaderboard.md)")
    return parser


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    from .leaderboard import check_replaceable

    args = build_parser().parse_args(argv)
    check_replaceable(args.leaderboard)
    ledger.check(args.ledger)
    grader = Grader(args.data, args.solution, args.metric, args.daily_limit)
    return grade_files(args.files, grader, ledger_path=args.ledger, leaderboard_path=args.leaderboard,
                       message=args.message, reveal=args.reveal)


if __name__ == "__main__":
    sys.exit(main())
