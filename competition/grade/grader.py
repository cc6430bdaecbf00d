"""Grade submissions against the answer key, Kaggle-style: public and private scores.

    python -m competition.grade FILE [FILE ...] [--data DIR] [--solution PATH] [--reveal]
                                [--message M] [--daily-limit N] [--metric NAME]

One grading core, two front doors. ``Grader.grade`` takes a submission's bytes and a team,
validates them with the checks ``submit`` runs too (``competition.grade.validate``), scores them
(``score``) and records them through a ``Storage``: the local ledger (``competition.grade.ledger``, this
command) or the grader server's SQLite store (``competition.server``). A file that fails validation
is recorded with its error and counts against no quota; the same bytes from the same team return
the earlier result, not counted again; the daily limit counts per UTC day, and a refusal says when
it resets. Private scores are kept only by the grader and shown after the reveal; the answer key's
labels are never printed or copied anywhere. The score is the competition's metric, as its
``competition.json`` declares it (``competition.data.metrics``; accuracy without one).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .. import cli, clock
from . import ledger, standings
from ..data import metrics, uncertainty
from ..data import overview as overview_file
from ..data.loader import check_sample_format, read_tables
from ..errors import InputError, InputWarning
from ..fsutil import NotRegularFile, read_regular
from ..data.records import Layout
from ..data.tables import read_csv
from .validate import Sample, SubmissionError, check_ids, check_labels, read_sample, validate_submission

if TYPE_CHECKING:  # pandas is imported where a table is made, not when a command reads its options
    import pandas as pd

USAGES = ("Public", "Private")


class AnswerKeyError(InputError):
    """An answer key that does not fit the competition: scoring with it would give wrong scores."""


def read_solution(path: Path, sample: Sample, classes: list, label_column: str | None = None) -> pd.DataFrame:
    """The answer key (``id``, the label column, ``Usage``; all text), checked like a submission:
    the id and label columns (``label_column``: train.csv's, which a probability sample lacks),
    every sample id once, only known classes, and Public and Private rows only."""
    import pandas as pd

    if not path.is_file():
        raise AnswerKeyError(f"{path}: no answer key (python -m competition.prepare writes it)")
    table = read_csv(path, AnswerKeyError)
    label_column = label_column or sample.label_column
    expected = [sample.id_column, label_column, "Usage"]
    if sorted(table) != sorted(expected):
        raise AnswerKeyError(f"{path}: expected columns {','.join(expected)}, got {','.join(table)}")
    ids, labels, usage = (table[column] for column in expected)
    source = f"answer key {path}"
    try:
        check_ids(ids, sample, source)
        check_labels(labels, list(range(2, len(labels) + 2)), [str(c) for c in classes], label_column, source)
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
    return pd.DataFrame({sample.id_column: ids, label_column: labels, "Usage": usage})


def score(predictions: dict, solution: pd.DataFrame, classes: list, metric: str = metrics.DEFAULT) -> dict[str, float]:
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


def predictions_digest(predictions: dict) -> str:
    """What makes two uploads the same submission: the ids and their predictions, whatever the
    bytes (line ends, a BOM, quoting, row order). Used with ``Storage.find`` for duplicates."""
    def text(value) -> str:  # a label, or a row of probabilities (every bit of it)
        return value if isinstance(value, str) else np.asarray(value, dtype=np.float64).tobytes().hex()

    lines = sorted(f"{key}\x1f{text(value)}" for key, value in predictions.items())
    return hashlib.sha256("\x1e".join(lines).encode("utf-8")).hexdigest()


def identity(layout: Layout, solution: pd.DataFrame) -> str:
    """Which competition a ledger entry belongs to: the folder's name, and a digest of its data
    (train.csv, test_sample.csv) and of its answer key as the grader reads it. A ``prepare`` re-run
    with another ``--seed`` keeps the name and the sample but deals other answers: another competition."""
    digest = hashlib.sha256()
    for part in (layout.train_csv.read_bytes(), layout.sample_csv.read_bytes(),
                 solution.to_csv(index=False, lineterminator="\n").encode("utf-8")):
        digest.update(hashlib.sha256(part).digest())
    return f"{layout.root.name}:data+key:{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class Assessment:
    """One upload graded but not yet recorded (``Grader.assess``): ``digest`` names its predictions
    (its sha256 when it failed validation), ``problem`` is the validation error or None, ``scores``
    the public and private scores of a valid file."""

    sha256: str
    digest: str
    problem: str | None
    scores: dict[str, float] | None


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
    The score is the competition's metric (``overview``, from competition.json): ``metric`` (its
    name), ``scorer`` and ``higher_is_better`` say it to every board; a ``metric`` argument
    overrides it, with a warning, when it scores the same kind of submission.
    """

    def __init__(self, data: Path, solution: Path | None = None, metric: str | None = None,
                 daily_limit: int | None = None, failed_limit: int | None = None):
        data = Path(data)
        layout = Layout(Path(os.path.abspath(data)) if data.name in ("", "..") else data)  # --data . has a name
        layout.check_exists()
        for name, limit in (("--daily-limit", daily_limit), ("failed-upload limit", failed_limit)):
            if limit is not None and limit < 1:
                raise InputError(f"{name} must be at least 1, got {limit}")
        self.data, self.daily_limit, self.failed_limit = layout.root, daily_limit, failed_limit
        self.overview = overview_file.read(layout.root)
        self.scorer = chosen_metric(self.overview, metric, layout.root)
        self.metric, self.higher_is_better = self.scorer.name, self.scorer.higher_is_better
        self.sample = read_sample(layout.sample_csv, probabilities=self.overview.probabilities)
        tables = read_tables(layout)
        self.classes = np.unique(tables["y_train"]).tolist()
        check_sample_format(layout, self.overview, self.classes)
        key = solution or layout.root.with_name(layout.root.name + ".grader") / "solution.csv"
        self.solution_path = Path(key)
        self.solution = read_solution(self.solution_path, self.sample, self.classes, tables["label_column"])
        check_scorable(self.solution, self.classes, self.scorer, self.solution_path)
        self.public_rows = int((self.solution["Usage"] == "Public").sum())
        self.competition = identity(layout, self.solution)
        self.legacy_competition = f"{layout.root.name}:{hashlib.sha256(layout.sample_csv.read_bytes()).hexdigest()[:12]}"

    def assess(self, data: bytes, source: str = "upload") -> Assessment:
        """What grading ``data`` computes before it touches any storage: its sha256, its validation
        error or its predictions' digest and scores. Pure and the slow part, so a server runs it
        under its grading slot and records outside it (another upload grades while this one's row
        is written to disk). Scores are computed even for a file the storage will then refuse as a
        duplicate or over the limit: cheaper than holding the storage's lock while scoring."""
        sha256 = hashlib.sha256(data).hexdigest()
        try:
            predictions = validate_submission(data, self.sample, self.classes, source=source)
        except SubmissionError as exc:
            return Assessment(sha256, sha256, str(exc), None)
        return Assessment(sha256, predictions_digest(predictions), None,
                          score(predictions, self.solution, self.classes, self.metric))

    def grade(self, data: bytes, storage: Storage, *, team: str = ledger.LOCAL_TEAM, file: str = "",
              name: str = "", message: str = "", extra: dict | None = None, now: datetime | None = None,
              daily_limit: int | None = None, failed_limit: int | None = None,
              assessed: Assessment | None = None) -> dict:
        """Validate, score and record ``data``; return its entry, with ``duplicate`` (an earlier
        result of the same predictions), ``submissions_left_today`` and ``resets_at`` added. Status
        ``ok`` (counted), ``error`` (recorded, not counted) or ``over-limit`` (not recorded).
        ``daily_limit``/``failed_limit`` replace the grader's own for this call (a server whose
        limits are changed while it runs). ``assessed``: ``assess(data)`` done already."""
        daily_limit, failed_limit = daily_limit or self.daily_limit, failed_limit or self.failed_limit
        now = now or clock.now()
        start, resets = clock.day(now)
        assessed = assessed or self.assess(data, source=file or "upload")  # outside the transaction
        entry = {"event": "grade", "time": clock.iso(now), "competition": self.competition, "team": team,
                 "file": file, "name": name or assessed.sha256[:12],
                 "message": message, "metric": self.metric, "sha256": assessed.sha256, "recipe": None, "cv": None,
                 **(extra or {}), "digest": assessed.digest}
        with storage.transaction():
            used = storage.counted_since(team, start)
            quota = {"resets_at": clock.iso(resets),
                     "submissions_left_today": None if daily_limit is None else max(0, daily_limit - used)}
            earlier = storage.find(team, assessed.digest)
            if earlier is not None:
                return {**earlier, **quota, "duplicate": True}
            if assessed.problem is not None:
                if failed_limit is not None and storage.failed_since(team, start) >= failed_limit:
                    return self._refused(entry, quota, f"{failed_limit} failed uploads today", now, resets)
                return {**storage.add({**entry, "status": "error", "error": assessed.problem}, data), **quota,
                        "duplicate": False}
            if daily_limit is not None and used >= daily_limit:
                return self._refused(entry, quota, f"daily limit of {daily_limit} graded submissions reached",
                                     now, resets)
            scored = storage.add({**entry, "status": ledger.COUNTED, **assessed.scores,
                                  "public_rows": self.public_rows,
                                  "private_rows": len(self.solution) - self.public_rows}, data)
            if daily_limit is not None:
                quota["submissions_left_today"] -= 1
        return {**scored, **quota, "duplicate": False}

    @staticmethod
    def _refused(entry: dict, quota: dict, why: str, now: datetime, resets: datetime) -> dict:
        return {**entry, **quota, "status": "over-limit", "duplicate": False, "error": Grader.refusal(why, now, resets)}

    @staticmethod
    def refusal(why: str, now: datetime, resets: datetime) -> str:
        """What a team over a limit is told (``why``: which limit)."""
        return f"{why}; the limit resets at {clock.iso(resets)} (UTC midnight, in {clock.until(now, resets)})"

    def scores(self, data: bytes, source: str = "kept file") -> dict[str, float]:
        """Public and private scores of a file graded before (a reveal, a re-score with a corrected key)."""
        predictions = validate_submission(data, self.sample, self.classes, source=source)
        return score(predictions, self.solution, self.classes, self.metric)

    def rows(self, data: bytes, usage: str = "Public", source: str = "kept file") -> tuple[np.ndarray, np.ndarray]:
        """``scored_rows`` of a file: its true classes and predictions on the ``usage`` rows."""
        predictions = validate_submission(data, self.sample, self.classes, source=source)
        return scored_rows(predictions, self.solution, self.classes, self.scorer, usage)

    def private_score(self, data: bytes) -> float:
        """The private score of a file graded before (for the reveal of a storage that kept files only)."""
        return self.scores(data)["private"]


def check_scorable(solution: pd.DataFrame, classes: list, scorer: metrics.Metric, path: Path) -> None:
    """Refuse an answer key the metric cannot score (ROC AUC on Public rows that lack a class):
    found once here, not as a failure of every upload."""
    ids, labels = solution.iloc[:, 0], metrics.encode(solution.iloc[:, 1], classes)
    perfect = (dict(zip(ids, np.eye(len(classes))[labels])) if scorer.needs == metrics.PROBABILITIES
               else dict(zip(ids, solution.iloc[:, 1])))
    try:
        score(perfect, solution, classes, scorer.name)
    except InputError as exc:
        raise AnswerKeyError(f"{path}: metric {scorer.name} cannot score its Public or Private rows: {exc}") from None


def chosen_metric(declared: overview_file.Overview, name: str | None, folder: Path) -> metrics.Metric:
    """The competition's metric, or ``name`` in its place with a warning (the competition decides:
    an override must score the same kind of submission)."""
    if name is None or name == declared.metric:
        return declared.scorer
    override = metrics.get(name)
    if override.needs != declared.submission:
        raise InputError(f"--metric {name}: scores {override.needs}, but {folder / overview_file.FILE} declares "
                         f"{declared.metric} on {declared.submission}")
    warnings.warn(f"--metric {name} overrides the competition's metric {declared.metric} "
                  f"({folder / overview_file.FILE}); scores of the two do not compare", InputWarning, stacklevel=3)
    return override


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
    try:
        data = read_regular(path)  # a folder, a pipe with no writer (reading it would hang): refused
    except NotRegularFile as exc:
        return {"file": str(path), "status": "error", "duplicate": False, "error": f"{exc}; not graded"}
    except OSError as exc:
        return {"file": str(path), "status": "error", "duplicate": False,
                "error": f"{path}: cannot be read ({exc.strerror}); not graded"}
    extra = read_sidecar(path, hashlib.sha256(data).hexdigest())
    result = grader.grade(data, storage, file=str(path), name=extra.pop("name", path.stem), message=message,
                          extra=extra)
    return {**result, "submitted": str(path)}


def rank_of(entry: dict, entries: list[dict], higher_is_better: bool = True) -> tuple[int, int]:
    """The file's rank among the files scored by its metric, and how many they are."""
    scored = ledger.graded(entries, entry.get("metric", metrics.DEFAULT))
    return standings.rank(entry["public"], [e["public"] for e in scored], higher_is_better), len(scored)


def report(entry: dict, entries: list[dict], reveal: bool, higher_is_better: bool = True) -> str:
    """What the command line prints for one graded file."""
    name = entry.get("submitted") or entry["file"]
    if entry["status"] != ledger.COUNTED:
        error = entry["error"]
        return f"{entry['status']}: {error}" if error.startswith(name) else f"{name}: {entry['status']}: {error}"
    rank, total = rank_of(entry, entries, higher_is_better)
    head = (f"{name}: duplicate of {entry['file']} graded {entry['time']}, not counted again; its public "
            if entry.get("duplicate") else f"{name}: public ")
    text = head + f"{entry['metric']} {entry['public']:.4f} (rank {rank} of {total})"
    cv = ledger.cv_score(entry)
    if cv:
        text += f", CV {cv[0]:.4f} +- {cv[1]:.4f}, public - CV {entry['public'] - cv[0]:+.4f}"
    if entry.get("submissions_left_today") is not None:
        text += f"\n  {entry['submissions_left_today']} submission(s) left today (resets {entry['resets_at']})"
    private = entry.get("private")
    text += (f"\n  private {private:.4f}" if reveal and private is not None
             else "\n  private: unknown (its graded bytes are gone)" if reveal
             else "\n  private: hidden (--reveal shows it)")
    return text


def same_answers(grader: Grader, store: ledger.Ledger, entries: list[dict]) -> bool:
    """Whether the files an older version graded (whose ledger entries name the competition by its
    folder and sample alone) score today as they scored then: the answer key is the same one. Each
    counted file is rescored from its kept copy; none left to rescore proves nothing."""
    old = [e for e in ledger.graded(entries) if e.get("competition") == grader.legacy_competition]
    kept = [(e, store.kept_bytes(e)) for e in old]
    kept = [(e, data) for e, data in kept if data is not None]
    try:
        return bool(kept) and all(grader.scores(data)["public"] == e["public"] for e, data in kept)
    except SubmissionError:
        return False


def public_bounds(grader: Grader, store: ledger.Ledger, entries: list[dict],
                  confidence: float = uncertainty.DEFAULT_CONFIDENCE) -> dict[str, dict]:
    """Each counted file's public interval and tier on the local board (sha256 -> ``{"low", "high",
    "tier"}``), recomputed from its kept copy and the answer key at every draw, so that they follow
    the key as the scores do. A file whose bytes are gone (or no longer valid) is left out and the
    others are tiered without it."""
    scored = []
    for entry in standings.files(entries, grader.higher_is_better, grader.metric):
        data = store.kept_bytes(entry)
        if data is None or entry["sha256"] in {sha for sha, _ in scored}:
            continue
        try:
            y_true, predicted = grader.rows(data)
        except SubmissionError:
            continue
        scored.append((entry["sha256"], predicted))
    if not scored:
        return {}
    predictions = [predicted for _, predicted in scored]
    spans = uncertainty.intervals(grader.scorer, y_true, predictions, len(grader.classes), confidence)
    tiers = uncertainty.tiers(grader.scorer, y_true, predictions, len(grader.classes), alpha=1 - confidence)
    return {sha: {"low": low, "high": high, "tier": tier}
            for (sha, _), (low, high), tier in zip(scored, spans, tiers)}


def grade_files(paths: list[Path], grader: Grader, *, ledger_path: Path = ledger.LEDGER,
                leaderboard_path: Path = Path("leaderboard.md"), message: str = "", reveal: bool = False) -> int:
    """The local grader: grade ``paths`` into the ledger, reveal if asked, redraw the leaderboard
    from the whole ledger (inside its lock), print one report per file; the exit code."""
    from .leaderboard import kept_notes, write_leaderboard

    store = ledger.Ledger(ledger_path)
    with store.transaction():  # a board being redrawn is never half-seen: its chart and page change in turn
        before = store.entries()
        kept_notes(leaderboard_path, before, grader.data.name)  # refuse now a board a redraw would lose edits of
    others = {e["competition"] for e in before if e.get("competition", grader.competition) != grader.competition}
    if grader.legacy_competition in others and same_answers(grader, store, before):
        others.discard(grader.legacy_competition)  # an older version's ledger of this very competition
    others = sorted(others)
    if others:
        raise InputError(f"--ledger {ledger_path}: holds submissions of another competition ({others[0]}), not "
                         f"{grader.competition}; give this one its own --ledger and --leaderboard")
    results = [grade_file(grader, store, path, message) for path in paths]
    with store.transaction():  # the board is drawn from the whole ledger, never from a stale read
        if reveal or ledger.revealed(before):  # once revealed, each file graded since is scored on the private rows too
            store.reveal(grader.private_score)
        everything = store.entries()
        write_leaderboard(everything, leaderboard_path, title=grader.overview.title or grader.data.name,
                          metric=grader.overview.metric, previous=before,  # the competition's, whatever --metric
                          bounds=public_bounds(grader, store, everything) if grader.metric == grader.overview.metric
                          else None)
    revealed = ledger.revealed(everything)
    private = {e["sha256"]: e.get("private") for e in ledger.graded(everything)}
    for result in results:
        if result["status"] == ledger.COUNTED and revealed:  # the score of the reveal; before it, report hides it
            result = {**result, "private": private.get(result["sha256"])}
        print(report(result, everything, revealed, grader.higher_is_better),
              file=sys.stdout if result["status"] == ledger.COUNTED else sys.stderr)
    print(f"leaderboard: {leaderboard_path}")
    return 0 if all(r["status"] == ledger.COUNTED for r in results) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(prog="python -m competition.grade",
                                     description="Validate and score submission CSVs; record them and redraw leaderboard.md.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="submission CSV(s)")
    cli.add_data(parser)
    parser.add_argument("--solution", type=Path, metavar="CSV", help="answer key (default <data>.grader/solution.csv)")
    parser.add_argument("--reveal", action="store_true",
                        help="end the competition: score the kept files on the private rows and show them from now on")
    parser.add_argument("--message", default="", metavar="M", help="a note stored with each graded file")
    parser.add_argument("--daily-limit", type=cli.int_at_least(1), metavar="N",
                        help="at most N counted submissions a UTC day (off by default)")
    parser.add_argument("--metric", choices=list(metrics.REGISTRY), metavar="NAME",
                        help="score by NAME instead of the competition's metric (competition.json; accuracy "
                             "without one), with a warning: the competition decides")
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
