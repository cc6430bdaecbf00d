"""The grader: one competition's submissions validated, scored and recorded, Kaggle-style.

One grading core, two front doors. ``Grader.grade`` takes a submission's bytes and a team, validates
them with the checks ``submit`` runs too (``competition.grade.validate``), scores them
(``competition.grade.public_private``) and records them through a ``Storage``: the local ledger
(``competition.grade.ledger``, the local command's) or the grader server's SQLite store
(``competition.server``). A file that fails validation is recorded with its error and counts against
no quota; the same bytes from the same team return the earlier result, not counted again; the daily
limit counts per UTC day, and a refusal says when it resets. Private scores are kept only by the
grader and shown after the reveal; the answer key's labels are never printed or copied anywhere. The
score is the competition's metric, as its ``competition.json`` declares it
(``competition.data.metrics``; accuracy without one)."""

from __future__ import annotations

import hashlib
import os
import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .. import cli, clock
from ..data import metrics
from ..data import overview as overview_file
from ..data.loader import check_sample_format, read_tables
from ..data.records import Layout
from ..errors import InputError, InputWarning
from . import ledger, public_private
from .answer_key import check_scorable, read_solution
from .validate import SubmissionError, read_sample, validate_submission

if TYPE_CHECKING:  # pandas is imported where a table is made, not when a command reads its options
    import pandas as pd


def predictions_digest(predictions: dict) -> str:
    """What makes two uploads the same submission: the ids and their predictions, whatever the
    bytes (line ends, a BOM, quoting, row order). Used with ``Storage.find`` for duplicates."""
    def text(value) -> str:  # a label, or a row of probabilities (every bit of it)
        return value if isinstance(value, str) else np.asarray(value, dtype=np.float64).tobytes().hex()

    lines = sorted(f"{key}\x1f{text(value)}" for key, value in predictions.items())
    return hashlib.sha256("\x1e".join(lines).encode("utf-8")).hexdigest()


def competition_id(layout: Layout, solution: pd.DataFrame) -> str:
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
            cli.at_least(name, limit)
        self.data, self.daily_limit, self.failed_limit = layout.root, daily_limit, failed_limit
        self.overview = overview_file.read(layout.root)
        self.scorer = chosen_metric(self.overview, metric, layout.root)
        self.metric, self.higher_is_better = self.scorer.name, self.scorer.higher_is_better
        self.sample = read_sample(layout.sample_csv, probabilities=self.overview.probabilities)
        tables = read_tables(layout)
        self.classes = np.unique(tables["y_train"]).tolist()
        check_sample_format(layout, self.overview, self.classes)
        self.solution_path = Path(solution or layout.solution_csv)
        self.solution = read_solution(self.solution_path, self.sample, self.classes, tables["label_column"])
        check_scorable(self.solution, self.classes, self.scorer, self.solution_path)
        self.public_rows = int((self.solution["Usage"] == "Public").sum())
        self.competition = competition_id(layout, self.solution)
        self.legacy_competition = (f"{layout.root.name}:"
                                   f"{hashlib.sha256(layout.sample_csv.read_bytes()).hexdigest()[:12]}")

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
                          public_private.scores(predictions, self.solution, self.classes, self.metric))

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
        return public_private.scores(predictions, self.solution, self.classes, self.metric)

    def rows(self, data: bytes, usage: str = "Public", source: str = "kept file") -> tuple[np.ndarray, np.ndarray]:
        """``public_private.scored_rows`` of a file: its true classes and predictions on the ``usage`` rows."""
        predictions = validate_submission(data, self.sample, self.classes, source=source)
        return public_private.scored_rows(predictions, self.solution, self.classes, self.scorer, usage)

    def private_score(self, data: bytes) -> float:
        """The private score of a file graded before (for the reveal of a storage that kept files only)."""
        return self.scores(data)["private"]


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
