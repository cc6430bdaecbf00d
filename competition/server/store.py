"""The grader server's storage: teams and submissions in SQLite (WAL), uploaded files by sha256.

``Store`` is a ``competition.grade.Storage``: ``transaction`` is ``BEGIN IMMEDIATE``, which
serialises the duplicate check, the daily-limit count and the insert of concurrent uploads, so
quotas hold exactly however many uploads arrive at once. Private scores live here and nowhere
else; the files live in ``<db>.files/`` and are never served. Team tokens are stored only as
their sha256: a token is shown once, when its team is added.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from .. import clock
from ..errors import InputError
from ..fsutil import write_bytes_atomic

SCHEMA = """
CREATE TABLE IF NOT EXISTS teams (
    name TEXT PRIMARY KEY, token_sha256 TEXT UNIQUE NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, team TEXT NOT NULL REFERENCES teams(name), time TEXT NOT NULL,
    file TEXT NOT NULL, name TEXT NOT NULL, message TEXT NOT NULL, metric TEXT NOT NULL, sha256 TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, public REAL, private REAL, public_rows INTEGER, private_rows INTEGER,
    selected INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS submissions_by_team ON submissions (team, time);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
COLUMNS = ("id", "team", "time", "file", "name", "message", "metric", "sha256", "status", "error", "public",
           "private", "public_rows", "private_rows", "selected")
MAX_TEAM_NAME = 40


class StoreError(InputError):
    """A request the store refuses: a taken team name, another team's submission, too many picks."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_team_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_TEAM_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise StoreError(f"team name {name!r}: use 1-{MAX_TEAM_NAME} printable characters")
    return name


class Store:
    """Teams and submissions of one grader server (one SQLite file)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.files = self.path.with_name(self.path.name + ".files")
        self._local = threading.local()
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"--db {self.path}: is not a file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connection() as db:
            db.executescript(SCHEMA)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections are not shared between threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=True)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")  # a 201 means the row is on disk
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"--db {self.path}: not a grader database ({exc})") from None
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        db = self.connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # --- competition.grade.Storage ---
    def find(self, team: str, sha256: str) -> dict | None:
        row = self.connection().execute("SELECT * FROM submissions WHERE team = ? AND sha256 = ? AND status = 'ok' "
                                        "ORDER BY id LIMIT 1", (team, sha256)).fetchone()
        return dict(row) if row else None

    def _count(self, team: str, since: datetime, status: str) -> int:
        return self.connection().execute("SELECT COUNT(*) FROM submissions WHERE team = ? AND status = ? AND time >= ?",
                                         (team, status, clock.iso(since))).fetchone()[0]

    def counted_since(self, team: str, since: datetime) -> int:
        return self._count(team, since, "ok")

    def failed_since(self, team: str, since: datetime) -> int:
        return self._count(team, since, "error")

    def add(self, entry: dict, data: bytes) -> dict:
        """Keep the file (by sha256), then insert its row; call inside ``transaction``."""
        kept = self.files / f"{entry['sha256']}.csv"
        if not kept.exists():
            write_bytes_atomic(kept, data)
        row = {key: entry.get(key) for key in COLUMNS if key not in ("id", "selected")}
        cursor = self.connection().execute(
            f"INSERT INTO submissions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
        return {**entry, "id": cursor.lastrowid, "selected": 0}

    # --- teams ---
    def add_team(self, name: str) -> str:
        """Add a team; return its new token (shown once: only its hash is kept)."""
        name = check_team_name(name)
        token = secrets.token_urlsafe(32)
        with self.transaction():
            if self.connection().execute("SELECT 1 FROM teams WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"team {name!r} exists already")
            self.connection().execute("INSERT INTO teams VALUES (?, ?, ?)", (name, token_hash(token), clock.iso(clock.now())))
        return token

    def team_of(self, token: str) -> str | None:
        row = self.connection().execute("SELECT name FROM teams WHERE token_sha256 = ?", (token_hash(token),)).fetchone()
        return row[0] if row else None

    def teams(self) -> list[str]:
        return [row[0] for row in self.connection().execute("SELECT name FROM teams ORDER BY name")]

    # --- submissions ---
    def submissions(self, team: str | None = None) -> list[dict]:
        if team is None:
            rows = self.connection().execute("SELECT * FROM submissions ORDER BY id")
        else:
            rows = self.connection().execute("SELECT * FROM submissions WHERE team = ? ORDER BY id", (team,))
        return [dict(row) for row in rows]

    def select(self, team: str, submission: int, chosen: bool, max_picks: int) -> dict:
        """Mark (or unmark) one of ``team``'s counted submissions as a final pick."""
        with self.transaction():
            db = self.connection()
            row = db.execute("SELECT * FROM submissions WHERE id = ? AND team = ?", (submission, team)).fetchone()
            if row is None:
                raise StoreError(f"no submission {submission} of team {team!r}")
            if row["status"] != "ok":
                raise StoreError(f"submission {submission} was not scored ({row['status']}); it cannot be a final pick")
            picks = db.execute("SELECT COUNT(*) FROM submissions WHERE team = ? AND selected = 1 AND id != ?",
                               (team, submission)).fetchone()[0]
            if chosen and picks >= max_picks:
                raise StoreError(f"team {team!r} has {picks} final picks already, the most allowed; unselect one first")
            db.execute("UPDATE submissions SET selected = ? WHERE id = ?", (int(chosen), submission))
        return {**dict(row), "selected": int(chosen)}

    # --- the reveal ---
    def setting(self, key: str) -> str | None:
        row = self.connection().execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_setting(self, key: str, value) -> None:
        with self.transaction():
            self.connection().execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, json.dumps(value)))

    def revealed(self, now: datetime | None = None) -> bool:
        """Whether private scores may be shown: after ``reveal``, or after the deadline."""
        if self.setting("revealed"):
            return True
        deadline = self.setting("deadline")
        return bool(deadline) and (now or clock.now()) >= clock.parse(deadline)
