"""The local grader's storage: every graded file, one JSON line each, appended under a file lock.

``submissions/ledger.jsonl`` is the source of truth the leaderboard is drawn from. Lines are
events: ``{"event": "grade", ...}`` for a graded (or refused) file and ``{"event": "reveal", ...}``
once the private scores may be shown. Private scores are never written before the reveal: each
counted file is kept by its sha256 in ``submissions/graded/``, and ``--reveal`` scores the kept
files on the private rows and writes those scores in the reveal event; every grading after it
scores the files graded since in a reveal event of their own, so that a file graded after the
reveal shows its private score at once.

A line that is not JSON (torn by a crash, edited by hand) or a counted entry whose scores are not
numbers is skipped with a warning naming its line: one bad line never stops the grader or the
leaderboard.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from datetime import datetime
from pathlib import Path
from typing import Callable

from filelock import FileLock

from .. import clock
from ..errors import InputError, InputWarning
from ..fsutil import lock as file_lock
from ..fsutil import check_regular_option, write_bytes_atomic

LEDGER = Path("submissions/ledger.jsonl")
KEPT = "graded"  # beside the ledger: counted files by sha256, scored on the private rows at the reveal
COUNTED = "ok"  # status of a graded, scored file
LOCAL_TEAM = "local"  # the team of every local submission


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def valid_cv(cv) -> bool:
    """Whether a CV record (a sidecar's or a ledger entry's) holds usable numbers: an accuracy and
    its spread in [0, 1], the competition metric's mean and spread (``score_mean``, ``score_std``)
    when given, and a row count that is a non-negative integer when given."""
    return (isinstance(cv, dict) and all(_number(cv.get(key)) and 0 <= cv[key] <= 1
                                         for key in ("accuracy_mean", "accuracy_std"))
            and ("score_mean" not in cv or (isinstance(cv.get("metric"), str) and _number(cv["score_mean"])
                                            and _number(cv.get("score_std")) and cv["score_std"] >= 0))
            and isinstance(cv.get("oof_rows", 0), int) and cv.get("oof_rows", 0) >= 0)


def valid_recipe(recipe) -> bool:
    """Whether a recipe (a sidecar's or a ledger entry's) is one the board can read: absent, or an
    object whose ``params`` and ``overrides`` are objects and whose ``members`` are recipes too."""
    if recipe is None:
        return True
    return (isinstance(recipe, dict) and all(isinstance(recipe.get(key) or {}, dict) for key in ("params", "overrides"))
            and isinstance(recipe.get("members") or [], list)
            and all(isinstance(member, dict) and valid_recipe(member) for member in recipe.get("members") or []))


def cv_score(entry: dict) -> tuple[float, float] | None:
    """The entry's CV mean and spread in the metric its public score is in, or None: a sidecar
    records the competition metric's (``score_mean``) and always accuracy's."""
    cv, metric = entry.get("cv"), entry.get("metric", "accuracy")
    if not cv:
        return None
    if cv.get("metric") == metric and "score_mean" in cv:
        return cv["score_mean"], cv["score_std"]
    return (cv["accuracy_mean"], cv["accuracy_std"]) if metric == "accuracy" else None


def problem(entry) -> str | None:
    """Why a ledger entry cannot be used, or None: what every reader of a counted entry relies on."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    if entry.get("event") == "reveal" and not isinstance(entry.get("private", {}), dict):
        return "its private scores are malformed"
    if entry.get("event") != "grade" or entry.get("status") != COUNTED:
        return None
    if not _number(entry.get("public")):
        return "its public score is not a number"
    if entry.get("metric", "accuracy") == "accuracy" and not 0 <= entry["public"] <= 1:
        return f"its public accuracy {entry['public']} is not between 0 and 1"
    for key in ("time", "file", "sha256", "name"):
        if not isinstance(entry.get(key), str):
            return f"its {key} is not text"
    try:
        clock.parse(entry["time"])
    except ValueError:
        return "its time is not an ISO-8601 time"
    if entry.get("cv") is not None and not valid_cv(entry["cv"]):
        return "its CV score is not a number"
    if not valid_recipe(entry.get("recipe")):
        return "its recipe is malformed"
    return None


def read(path: str | Path = LEDGER) -> list[dict]:
    """Every usable entry, in order, counted ones with their private score once revealed (and only
    then); unusable lines are skipped with a warning naming them."""
    path = Path(path)
    if not path.is_file():
        return []
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            warnings.warn(f"{path}, line {n}: not JSON ({exc.msg}); skipped", InputWarning, stacklevel=2)
            continue
        why = problem(entry)
        if why:
            warnings.warn(f"{path}, line {n}: {why}; skipped", InputWarning, stacklevel=2)
            continue
        if entry.get("event") == "grade":
            entry.pop("private", None)  # an older ledger wrote it before the reveal
        entries.append(entry)
    private = {}
    for reveal in (e for e in entries if e.get("event") == "reveal"):
        private.update(reveal.get("private", {}))
    for entry in graded(entries):
        if entry["sha256"] in private and _number(private[entry["sha256"]]):
            entry["private"] = private[entry["sha256"]]
    return entries


def check(path: str | Path = LEDGER) -> None:
    """Refuse a ``--ledger`` that is some other file: its first line must be a ledger event, else
    appending to it would change a file the grader did not create."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--ledger {path}: is a folder, not a ledger file")
    if path.exists():
        check_regular_option("--ledger", path)
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb") as f:
        first = f.readline(1 << 20)
    try:
        event = json.loads(first).get("event")
    except (ValueError, AttributeError):
        event = None
    if event not in ("grade", "reveal"):
        raise InputError(f"--ledger {path}: exists and is not a ledger (its first line is no grading event); "
                         "it is left untouched")


def lock(path: str | Path = LEDGER) -> FileLock:
    """The lock that serialises reading-then-appending (and redrawing the leaderboard), so two
    graders never race."""
    return file_lock(str(path) + ".lock")


def append(entry: dict, path: str | Path = LEDGER) -> None:
    """Append one line (call with ``lock`` held). A single ``write`` of one line; a line torn by an
    earlier crash is ended first, so that it never swallows this one."""
    path = Path(path)
    with open(path, "ab+") as f:
        torn = f.tell() > 0 and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n"
        f.write((b"\n" if torn else b"") + (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8"))
        f.flush()


def graded(entries: list[dict], metric: str | None = None) -> list[dict]:
    """Entries of files that were scored and count (no errors), in ledger order; only those scored
    by ``metric`` when given (an entry that names none was scored by accuracy): scores of two
    metrics never share a ranking."""
    return [e for e in entries if e.get("event") == "grade" and e.get("status") == COUNTED
            and (metric is None or e.get("metric", "accuracy") == metric)]


def revealed(entries: list[dict]) -> bool:
    return any(e.get("event") == "reveal" for e in entries)


class Ledger:
    """``competition.grade.grader.Storage`` on a JSON-lines file: the local grader's."""

    def __init__(self, path: str | Path = LEDGER):
        self.path = Path(path)
        self.kept = self.path.parent / KEPT
        self._lock = lock(self.path)

    def transaction(self) -> FileLock:
        return self._lock

    def entries(self) -> list[dict]:
        return read(self.path)

    def find(self, team: str, digest: str) -> dict | None:
        """The team's earlier counted entry of the same predictions (of the same bytes, for entries
        recorded before digests)."""
        return next((e for e in graded(self.entries())
                     if e.get("digest", e["sha256"]) == digest and e.get("team", LOCAL_TEAM) == team), None)

    def _since(self, team: str, since: datetime, status: str) -> int:
        return sum(1 for e in self.entries() if e.get("event") == "grade" and e.get("status") == status
                   and e.get("team", LOCAL_TEAM) == team and clock.parse(e["time"]) >= since)

    def counted_since(self, team: str, since: datetime) -> int:
        return self._since(team, since, COUNTED)

    def failed_since(self, team: str, since: datetime) -> int:
        return self._since(team, since, "error")

    def add(self, entry: dict, data: bytes) -> dict:
        """Append ``entry`` without its private score; keep a counted file's bytes for the reveal."""
        entry = {**entry, "id": 1 + sum(1 for e in self.entries() if e.get("event") == "grade")}
        if entry["status"] == COUNTED:
            kept = self.kept / f"{entry['sha256']}.csv"
            if not kept.exists():
                write_bytes_atomic(kept, data)
        append({k: v for k, v in entry.items() if k != "private"}, self.path)
        return entry

    def reveal(self, private_score: Callable[[bytes], float]) -> int:
        """Score on the private rows every counted file no reveal has scored yet (at the first
        reveal all of them, later those graded since) and record it in a reveal event; the number of
        files scored. A file is taken from the kept copies, else from its path if unchanged; one
        whose bytes are gone is recorded as unknown (null), so that it is warned about once."""
        entries = self.entries()
        tried = {sha256 for e in entries if e.get("event") == "reveal" for sha256 in e.get("private", {})}
        pending = {e["sha256"]: e for e in graded(entries) if e["sha256"] not in tried}
        if revealed(entries) and not pending:
            return 0
        scores = {}
        for sha256, entry in pending.items():
            data = self.kept_bytes(entry)
            if data is None:
                warnings.warn(f"{entry['file']}: its graded bytes are gone, so its private score is unknown",
                              InputWarning, stacklevel=2)
            scores[sha256] = None if data is None else private_score(data)
        append({"event": "reveal", "time": clock.iso(clock.now()), "private": scores}, self.path)
        return sum(score is not None for score in scores.values())

    def kept_bytes(self, entry: dict) -> bytes | None:
        for candidate in (self.kept / f"{entry['sha256']}.csv", Path(entry["file"])):
            try:
                data = candidate.read_bytes()
            except OSError:
                continue
            if hashlib.sha256(data).hexdigest() == entry["sha256"]:
                return data
        return None
