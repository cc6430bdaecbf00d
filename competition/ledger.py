"""The ledger: every graded file, one JSON line each, appended under a file lock.

``submissions/ledger.jsonl`` is the source of truth the leaderboard is drawn from. Lines are
events: ``{"event": "grade", ...}`` for a graded (or refused) file and ``{"event": "reveal"}``
once the private scores may be shown. A line that is not JSON (torn by a crash, edited by hand) or
a counted entry whose scores are not numbers is skipped with a warning naming its line: one bad
line never stops the grader or the leaderboard.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

from filelock import FileLock

from .errors import InputError, InputWarning
from .fsutil import lock as file_lock

LEDGER = Path("submissions/ledger.jsonl")
COUNTED = "ok"  # status of a graded, scored, non-duplicate file


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def problem(entry) -> str | None:
    """Why a ledger entry cannot be used, or None: what every reader of a counted entry relies on."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    if entry.get("event") != "grade" or entry.get("status") != COUNTED:
        return None
    for key in ("public", "private"):
        if not _number(entry.get(key)):
            return f"its {key} score is not a number"
    for key in ("time", "file", "sha256", "name"):
        if not isinstance(entry.get(key), str):
            return f"its {key} is not text"
    cv = entry.get("cv")
    if cv is not None and not (isinstance(cv, dict) and _number(cv.get("accuracy_mean"))
                               and _number(cv.get("accuracy_std"))):
        return "its CV score is not a number"
    return None


def read(path: str | Path = LEDGER) -> list[dict]:
    """Every usable entry, in order; unusable lines are skipped with a warning naming them."""
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
        entries.append(entry)
    return entries


def check(path: str | Path = LEDGER) -> None:
    """Refuse a ``--ledger`` that is some other file: its first line must be a ledger event, else
    appending to it would change a file the grader did not create."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--ledger {path}: is a folder, not a ledger file")
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


def graded(entries: list[dict]) -> list[dict]:
    """Entries of files that were scored and count (no errors, no duplicates), in ledger order."""
    return [e for e in entries if e.get("event") == "grade" and e.get("status") == COUNTED]


def revealed(entries: list[dict]) -> bool:
    return any(e.get("event") == "reveal" for e in entries)
