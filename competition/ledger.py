"""The ledger: every graded file, one JSON line each, appended under a file lock.

``submissions/ledger.jsonl`` is the source of truth the leaderboard is drawn from. Lines are
events: ``{"event": "grade", ...}`` for a graded (or refused) file and ``{"event": "reveal"}``
once the private scores may be shown.
"""

from __future__ import annotations

import json
from pathlib import Path

from filelock import FileLock

LEDGER = Path("submissions/ledger.jsonl")
COUNTED = "ok"  # status of a graded, scored, non-duplicate file


def read(path: str | Path = LEDGER) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}, line {n}: not JSON ({exc.msg})") from None
    return entries


def lock(path: str | Path = LEDGER) -> FileLock:
    """The lock that serialises reading-then-appending, so two graders never race."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock", timeout=60)


def append(entry: dict, path: str | Path = LEDGER) -> None:
    """Append one line (call with ``lock`` held). A single ``write`` of one line: no torn records."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()


def graded(entries: list[dict]) -> list[dict]:
    """Entries of files that were scored and count (no errors, no duplicates), in ledger order."""
    return [e for e in entries if e.get("event") == "grade" and e.get("status") == COUNTED]


def revealed(entries: list[dict]) -> bool:
    return any(e.get("event") == "reveal" for e in entries)
