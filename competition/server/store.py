"""The grader server's storage: the competition's settings, teams, members and submissions in
SQLite (WAL), uploaded files by sha256.

``Store`` is a ``competition.grade.grader.Storage``: ``transaction`` is ``BEGIN IMMEDIATE``, which
serialises the duplicate check, the daily-limit count and the insert of concurrent uploads, so
quotas hold exactly however many uploads arrive at once. A team's members each have a token and
share the team's quota (Kaggle's teams). Private scores live here and nowhere else; the files live
in ``<db>.files/`` and are never served. Tokens are stored only as their sha256: a token is shown
once, when its member is added or its token rotated.

The settings (deadline, limits, final picks, title, late submissions) live here too, so every
process that opens the database (the server, each admin command) sees the same competition, and
a restart never changes them. The competition *ends* when its deadline passes or when it is
revealed; from then on final picks are frozen (``select`` refuses) and it stays ended unless a
``set --reopen`` says otherwise (``settings.py`` holds those rules).

Faults pass without a restart and store nothing by halves: a writer waits ``busy_seconds`` for
another process's lock, then ``sqlite3.OperationalError`` (the server answers 503); a full disk
fails the kept file or the database write (503); a connection opened while the file was read-only
is reopened at the next write; a database file removed or replaced while serving is refused
(``Unavailable``), never recreated, and checked again after each commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
from collections import deque
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from .. import clock
from ..errors import InputError
from ..fsutil import NotRegularFile, check_regular, write_bytes_atomic
from .settings import NOT_TEXT, TOO_LONG, ended, printable

TEAMS = ("CREATE TABLE IF NOT EXISTS teams (name TEXT PRIMARY KEY, created TEXT NOT NULL, "
         "disabled INTEGER NOT NULL DEFAULT 0)")
SCHEMA = TEAMS + """;
CREATE TABLE IF NOT EXISTS members (
    team TEXT NOT NULL REFERENCES teams(name), member TEXT NOT NULL, token_sha256 TEXT UNIQUE NOT NULL,
    created TEXT NOT NULL, PRIMARY KEY (team, member));
CREATE UNIQUE INDEX IF NOT EXISTS one_team_per_member ON members (member);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, team TEXT NOT NULL REFERENCES teams(name), time TEXT NOT NULL,
    file TEXT NOT NULL, name TEXT NOT NULL, message TEXT NOT NULL, metric TEXT NOT NULL, sha256 TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, public REAL, private REAL, public_rows INTEGER, private_rows INTEGER,
    selected INTEGER NOT NULL DEFAULT 0, member TEXT, late INTEGER NOT NULL DEFAULT 0, digest TEXT);
CREATE INDEX IF NOT EXISTS submissions_by_team ON submissions (team, time);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS wrong_tokens (address TEXT NOT NULL, time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS wrong_tokens_by_address ON wrong_tokens (address, time);
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, action TEXT NOT NULL,
    detail TEXT NOT NULL);
"""
# the indexes a board is read with; each team's counted submissions and its last one, kept by the
# database itself as rows arrive (every process that writes, the server's workers and the host's
# commands alike), so a board never counts them
TALLY = ("CREATE INDEX IF NOT EXISTS submissions_best ON submissions (team, status, late, public DESC, id)",
         "CREATE INDEX IF NOT EXISTS submissions_picked ON submissions (team) WHERE selected = 1",
         "CREATE TABLE IF NOT EXISTS team_tally (team TEXT PRIMARY KEY, counted INTEGER NOT NULL, last TEXT NOT NULL)",
         """
CREATE TRIGGER IF NOT EXISTS tally_counted AFTER INSERT ON submissions WHEN NEW.status = 'ok' AND NEW.late = 0
BEGIN
    INSERT INTO team_tally VALUES (NEW.team, 1, NEW.time)
    ON CONFLICT (team) DO UPDATE SET counted = counted + 1, last = max(last, excluded.last);
END""")
# the rows a board is ranked from: each team's best-public counted row and its final picks (an index
# seek per team, whatever the number of stored submissions); standings.py applies the rule to them
RANKED = "id, team, time, status, late, public, private, selected"  # what standings.py reads of a row
CANDIDATES = f"""
SELECT {', '.join('s.' + c for c in RANKED.split(', '))} FROM team_tally t JOIN submissions s ON s.id = (
    SELECT id FROM submissions WHERE team = t.team AND status = 'ok' AND late = 0 AND void_reason IS NULL
    ORDER BY public {{order}}, id LIMIT 1)
UNION
SELECT {RANKED} FROM submissions WHERE selected = 1 AND status = 'ok' AND late = 0 AND void_reason IS NULL
"""
BUSY_SECONDS = 60  # how long a host's command waits for another writer; the server waits less (create_app)
COLUMNS = ("id", "team", "time", "file", "name", "message", "metric", "sha256", "status", "error", "public",
           "private", "public_rows", "private_rows", "selected", "member", "late", "digest", "key_sha256")
# since the first schema; ``key_sha256``: the answer key a row was scored with (a rescore re-scores
# every other); ``void_reason``: set by the host's ``void`` (kept, shown, never ranked or picked)
ADDED_COLUMNS = {"member": "TEXT", "late": "INTEGER NOT NULL DEFAULT 0", "digest": "TEXT", "key_sha256": "TEXT",
                 "void_reason": "TEXT"}
MAX_NAME = 40
APPLICATION_ID = 0x47524452  # "GRDR" in the database header (PRAGMA application_id): this file is a grader's
# what a grader's database made before the application id holds: its tables, and the first schema's core columns
GRADER_TABLES = {"teams", "members", "submissions", "settings", "wrong_tokens", "team_tally", "teams_v1",
                 "sqlite_sequence", "journal"}
FIRST_COLUMNS = {"id", "team", "time", "file", "sha256", "status", "public", "private"}


class StoreError(InputError):
    """A request the store refuses: a taken team name, another team's submission, too many picks."""


class Frozen(StoreError):
    """A change the end of the competition forbids (a final pick after the deadline)."""


class StaleKey(Exception):
    """An upload scored with an answer key that a rescore has replaced since: nothing was stored; the
    server grades it again with the key in force."""


class Unavailable(InputError):
    """The database cannot be used now (busy, removed or replaced while serving): nothing was stored.
    The server answers 503 with ``Retry-After``."""


class FifoSlots:
    """``slots`` places handed to waiting threads in their order of arrival (``threading.Semaphore``
    wakes waiters in no set order, and SQLite's busy handler retries with growing sleeps, so under
    load some uploads waited many times the median). The server's writers queue here for one place
    before they ask SQLite for its write lock, and its uploads for a grading place."""

    def __init__(self, slots: int = 1):
        self._guard = threading.Lock()
        self._queue: deque[threading.Event] = deque()
        self._free = slots

    def acquire(self, timeout: float | None = None) -> bool:
        with self._guard:
            if self._free > 0:  # never while threads wait: a release hands the place to the first
                self._free -= 1
                return True
            turn = threading.Event()
            self._queue.append(turn)
        if turn.wait(timeout):
            return True
        with self._guard:
            if turn.is_set():  # handed over just as the wait ended
                return True
            self._queue.remove(turn)
            return False

    def release(self) -> None:
        with self._guard:
            if self._queue:
                self._queue.popleft().set()  # the place passes on, still taken
            else:
                self._free += 1


def new_token() -> str:
    """A fresh 256-bit token that never starts with ``-``: ``token_urlsafe`` gives that one time in
    64, and ``--token -uQ...`` is then read as an option (``expected one argument``)."""
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_roster_name(name: str, what: str = "team name") -> str:
    """A team or member name: 1-40 printable characters of valid text (a shell may hand over bytes
    that are not UTF-8; they could be neither stored nor shown)."""
    name = name.strip()
    problem = printable(name, MAX_NAME, least=1)
    if problem == NOT_TEXT:
        raise StoreError(f"{what} {name!r}: not valid UTF-8 text")
    if problem == TOO_LONG:
        raise StoreError(f"{what} {name!r}: use 1-{MAX_NAME} printable characters")
    if problem:
        raise StoreError(f"{what} {name!r}: holds {problem}, which shows as nothing or reorders the text; "
                         f"use printable characters")
    return name



class Store:
    """Settings, teams and submissions of one grader server (one SQLite file)."""

    def __init__(self, path: str | Path, busy_seconds: float = BUSY_SECONDS):
        self.path = Path(path)
        self.files = self.path.with_name(self.path.name + ".files")
        self.keys = self.path.with_name(self.path.name + ".keys")  # the answer keys it grades with, by sha256
        self.busy_seconds = busy_seconds
        self._local = threading.local()
        self._writers = FifoSlots(1)
        self._watcher: sqlite3.Connection | None = None  # never writes: its data_version counts everyone's commits
        self._watching = threading.Lock()
        try:
            check_regular(self.path)
        except NotRegularFile as exc:
            raise StoreError(f"--db {exc}") from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():  # private scores and messages: the owner's alone (SQLite gives its -wal
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))  # and -shm the same mode)
        found = self.path.stat()
        self._identity = (found.st_dev, found.st_ino)  # the file this store serves, and no other
        self._claim()
        db = self.connection()
        db.executescript(SCHEMA)  # idempotent; a first-schema database keeps its old teams table
        with self.transaction():
            self._migrate()

    def _claim(self) -> None:
        """Refuse another program's SQLite file before anything is written to it (no table added, no
        switch to WAL): a grader's database carries ``APPLICATION_ID``; a new (empty) file, or one a
        grader made before the id existed (only its tables), is given it now."""
        probe = sqlite3.connect(self.path, timeout=self.busy_seconds, isolation_level=None)
        try:
            found = probe.execute("PRAGMA application_id").fetchone()[0]
            if found == APPLICATION_ID:
                return
            tables = {row[0] for row in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            columns = {row[1] for row in probe.execute("PRAGMA table_info(submissions)")}
            if found != 0 or (tables and not (tables <= GRADER_TABLES and {"teams", "submissions"} <= tables
                                              and FIRST_COLUMNS <= columns)):
                what = f"application id {found}" if found else f"tables {', '.join(sorted(tables))}"
                raise StoreError(f"--db {self.path}: another program's SQLite database ({what}), not a grader's; "
                                 f"nothing was changed (name a new file, or a grader's database)")
            probe.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        except sqlite3.OperationalError:
            raise  # busy, read-only: a passing state
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"--db {self.path}: not a grader database ({exc}); nothing was changed") from None
        finally:
            probe.close()

    def _migrate(self) -> None:
        """A database of the first schema (one token per team, in ``teams``): each team becomes a
        team of one member of its own name, with the same token; submissions gain their new columns.
        Run inside a transaction, so that two processes opening the same old file migrate it once."""
        db = self.connection()
        have = {row[1] for row in db.execute("PRAGMA table_info(submissions)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in have:
                db.execute(f"ALTER TABLE submissions ADD COLUMN {name} {kind}")
        tallied = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'team_tally'").fetchone()
        for statement in TALLY:  # one by one: executescript would commit the transaction
            db.execute(statement)
        if not tallied:
            db.execute("INSERT INTO team_tally SELECT team, COUNT(*), MAX(time) FROM submissions "
                       "WHERE status = 'ok' AND late = 0 GROUP BY team")
        if "token_sha256" in {row[1] for row in db.execute("PRAGMA table_info(teams)")}:
            db.execute("ALTER TABLE teams RENAME TO teams_v1")
            db.execute(TEAMS)
            db.execute("INSERT INTO teams (name, created) SELECT name, created FROM teams_v1")
            db.execute("INSERT INTO members SELECT name, name, token_sha256, created FROM teams_v1")
            db.execute("DROP TABLE teams_v1")

    def check_file(self) -> None:
        """Refuse to go on when the database file was removed or replaced while serving: SQLite would
        keep writing into the removed file (an upload answered 201, then lost) or a new thread would
        silently create an empty database. Nothing is recreated: the host restores the file."""
        try:
            found = self.path.stat()
        except OSError:
            raise Unavailable(f"{self.path}: the grader's database is gone (removed while serving); nothing was "
                              f"stored. Put the file back (or restart the server to begin a new one)") from None
        if (found.st_dev, found.st_ino) != self._identity:
            raise Unavailable(f"{self.path}: the grader's database was replaced by another file while serving; "
                              f"nothing was stored. Put the original back, or restart the server to serve the "
                              f"new one") from None

    def _drop_connection(self) -> None:
        """Close this thread's connection; its next use opens a fresh one."""
        self._local.db.close()
        self._local.db = None

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections are not shared between threads)."""
        self.check_file()
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=self.busy_seconds, isolation_level=None,
                                     check_same_thread=True)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")  # a 201 means the row is on disk
            except sqlite3.OperationalError:
                raise  # busy, read-only, full: a passing state (503), not a wrong file
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"--db {self.path}: not a grader database ({exc})") from None
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; this process's writers queue in arrival order first
        (``FifoLock``), for at most ``busy_seconds``. The file is checked again after the commit: a
        write that went into a removed file is an error, never a success."""
        if not self._writers.acquire(self.busy_seconds):
            raise Unavailable(f"the grader's database is busy (waited {self.busy_seconds:g} s for other writers); "
                              f"nothing was stored, try again shortly")
        try:
            db = self.connection()
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_READONLY:
                    raise
                self._drop_connection()  # opened while the file could not be written, it stays read-only
                db = self.connection()
                db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    try:
                        db.execute("ROLLBACK")
                    except sqlite3.Error:
                        self._drop_connection()
                raise
            db.execute("COMMIT")
            self.check_file()
        finally:
            self._writers.release()

    def version(self) -> int:
        """Changes whenever anything is committed to the database, by any thread, process or host's
        command: the ``data_version`` of a connection of the store's own that never writes (it counts
        the commits of every other connection). A board read at one version is the board until the
        version changes."""
        self.check_file()
        with self._watching:
            if self._watcher is None:
                self._watcher = sqlite3.connect(self.path, timeout=self.busy_seconds, isolation_level=None,
                                                check_same_thread=False)
            return self._watcher.execute("PRAGMA data_version").fetchone()[0]

    # --- competition.grade.grader.Storage ---
    def find(self, team: str, sha256: str) -> dict | None:
        """The team's earlier counted submission of the same predictions (``digest``: the parsed ids
        and labels, so other line ends or quoting are the same submission) or, for rows stored before
        digests, of the same bytes."""
        row = self.connection().execute(
            "SELECT * FROM submissions WHERE team = ? AND status = 'ok' AND (digest = ? OR (digest IS NULL AND "
            "sha256 = ?)) ORDER BY id LIMIT 1", (team, sha256, sha256)).fetchone()
        return dict(row) if row else None

    def _count(self, team: str, since: datetime, status: str) -> int:
        return self.connection().execute("SELECT COUNT(*) FROM submissions WHERE team = ? AND status = ? AND time >= ?",
                                         (team, status, clock.iso(since))).fetchone()[0]

    def counted_since(self, team: str, since: datetime) -> int:
        return self._count(team, since, "ok")

    def failed_since(self, team: str, since: datetime) -> int:
        return self._count(team, since, "error")

    def add(self, entry: dict, data: bytes) -> dict:
        """Keep the file (by sha256), then insert its row; call inside ``transaction``. A scored entry
        whose ``key_sha256`` is not the key in force (a rescore committed while it was graded) raises
        ``StaleKey``: read inside the transaction, so every row is scored by the key in force."""
        if (entry.get("key_sha256") and entry.get("status") == "ok"
                and entry["key_sha256"] != self.setting("key_sha256")):
            raise StaleKey(entry["key_sha256"])
        kept = self.files / f"{entry['sha256']}.csv"
        if not kept.exists():
            try:
                write_bytes_atomic(kept, data, secret=True)  # a team's predictions: the host's alone
            except OSError as exc:  # a full disk, a read-only folder: a passing state, nothing stored
                raise Unavailable(f"{self.files}: the upload cannot be kept ({exc.strerror}); nothing was stored, "
                                  f"try again shortly") from None
        row = {key: entry.get(key) for key in COLUMNS if key not in ("id", "selected")}
        row["late"] = int(bool(row["late"]))
        cursor = self.connection().execute(
            f"INSERT INTO submissions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
        return {**entry, "id": cursor.lastrowid, "selected": 0, "late": row["late"]}

    # --- teams and members ---
    def add_members(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """Add ``(team, member)`` pairs in one transaction (teams created as needed); return
        ``(team, member, token)`` for each. A member already in another team is refused; one already
        in the same team is refused too (the caller leaves out those it means to skip)."""
        pairs = [(check_roster_name(team), check_roster_name(member, "member name")) for team, member in pairs]
        now = clock.iso(clock.now())
        made = []
        with self.transaction() as db:
            for team, member in pairs:
                found = db.execute("SELECT team FROM members WHERE member = ?", (member,)).fetchone()
                if found:
                    raise StoreError(f"member {member!r} is in team {found[0]!r} already")
                db.execute("INSERT OR IGNORE INTO teams (name, created) VALUES (?, ?)", (team, now))
                token = new_token()
                db.execute("INSERT INTO members VALUES (?, ?, ?, ?)", (team, member, token_hash(token), now))
                made.append((team, member, token))
        return made

    def remove_members(self, pairs: list[tuple[str, str]]) -> None:
        """Undo ``add_members`` (a token file that could not be written): the members, then their
        teams if left empty and without submissions."""
        with self.transaction() as db:
            for team, member in pairs:
                db.execute("DELETE FROM members WHERE team = ? AND member = ?", (team, member))
                db.execute("DELETE FROM teams WHERE name = ? AND NOT EXISTS (SELECT 1 FROM members WHERE team = ?) "
                           "AND NOT EXISTS (SELECT 1 FROM submissions WHERE team = ?)", (team, team, team))

    def add_team(self, name: str) -> str:
        """Add a team of one (its member has the team's name); return its token (shown once)."""
        name = check_roster_name(name)
        if self.connection().execute("SELECT 1 FROM teams WHERE name = ?", (name,)).fetchone():
            raise StoreError(f"team {name!r} exists already")
        return self.add_members([(name, name)])[0][2]

    def member_of(self, token: str) -> dict | None:
        """``{"team", "member", "disabled"}`` of a token, or None."""
        row = self.connection().execute(
            "SELECT members.team, members.member, teams.disabled FROM members JOIN teams ON teams.name = members.team "
            "WHERE token_sha256 = ?", (token_hash(token),)).fetchone()
        return {"team": row[0], "member": row[1], "disabled": bool(row[2])} if row else None

    def team_of(self, token: str) -> str | None:
        found = self.member_of(token)
        return found["team"] if found else None

    def teams(self) -> list[str]:
        return [row[0] for row in self.connection().execute("SELECT name FROM teams ORDER BY name")]

    def members(self) -> dict[str, list[str]]:
        """Team -> its members, in the order they were added."""
        found: dict[str, list[str]] = {team: [] for team in self.teams()}
        for team, member in self.connection().execute("SELECT team, member FROM members ORDER BY rowid"):
            found[team].append(member)
        return found

    def disabled(self) -> set[str]:
        return {row[0] for row in self.connection().execute("SELECT name FROM teams WHERE disabled = 1")}

    def _team(self, team: str) -> None:
        if not self.connection().execute("SELECT 1 FROM teams WHERE name = ?", (team,)).fetchone():
            raise StoreError(f"no team {team!r} (python -m competition.server teams lists them)")

    def set_disabled(self, team: str, disabled: bool) -> None:
        with self.transaction() as db:
            self._team(team)
            db.execute("UPDATE teams SET disabled = ? WHERE name = ?", (int(disabled), team))
            self.record("disable-team" if disabled else "enable-team", f"team {team!r}", db)

    def rotate_token(self, team: str, member: str | None = None) -> tuple[str, str]:
        """A new token for ``member`` of ``team`` (the only member when not named); the old one stops
        working as this commits. Returns ``(member, token)``."""
        with self.transaction() as db:
            self._team(team)
            members = [row[0]
                       for row in db.execute("SELECT member FROM members WHERE team = ? ORDER BY rowid", (team,))]
            if member is None:
                if len(members) != 1:
                    raise StoreError(f"team {team!r} has {len(members)} members ({', '.join(members)}): "
                                     f"name one with --member")
                member = members[0]
            elif member not in members:
                raise StoreError(f"team {team!r} has no member {member!r} (members: {', '.join(members) or 'none'})")
            token = new_token()
            db.execute("UPDATE members SET token_sha256 = ? WHERE team = ? AND member = ?",
                       (token_hash(token), team, member))
            self.record("rotate-token", f"member {member!r} of team {team!r}", db)
        return member, token

    # --- submissions ---
    def submissions(self, team: str | None = None) -> list[dict]:
        if team is None:
            rows = self.connection().execute("SELECT * FROM submissions ORDER BY id")
        else:
            rows = self.connection().execute("SELECT * FROM submissions WHERE team = ? ORDER BY id", (team,))
        return [dict(row) for row in rows]

    def kept_files(self, ids: list[int]) -> dict[int, Path]:
        """Submission id -> its kept file (``<db>.files/<sha256>.csv``), for the ids that exist."""
        db = self.connection()
        return {row[0]: self.files / f"{row[1]}.csv" for submission in ids
                for row in db.execute("SELECT id, sha256 FROM submissions WHERE id = ?", (submission,))}

    def standing_rows(self, higher_is_better: bool = True) -> tuple[list[dict], dict[str, tuple[int, str]]]:
        """What a board is ranked from, without reading every submission: the candidate rows (each
        team's best-public counted row, best in the metric's direction, and its final picks) and each
        team's ``(counted, last)``. ``standings.team_standings(*store.standing_rows(), ...)`` equals it
        over ``submissions()``."""
        db = self.connection()
        rows = [dict(row) for row in db.execute(CANDIDATES.format(order="DESC" if higher_is_better else "ASC"))]
        tally = {team: (counted, last) for team, counted, last in db.execute("SELECT * FROM team_tally")}
        return rows, tally

    def select(self, team: str, submission: int, chosen: bool, max_picks: int, now: datetime | None = None) -> dict:
        """Mark (or unmark) one of ``team``'s counted submissions as a final pick. Refused (``Frozen``)
        once the competition has ended: the time is read inside the transaction, so a pick either
        landed before the end or not at all."""
        with self.transaction() as db:
            moment = now or clock.now()
            if self.ended(moment):
                raise Frozen("the competition has ended: final picks are frozen")
            row = db.execute("SELECT * FROM submissions WHERE id = ? AND team = ?", (submission, team)).fetchone()
            if row is None:
                raise StoreError(f"no submission {submission} of team {team!r}")
            if row["status"] != "ok":
                raise StoreError(f"submission {submission} was not scored ({row['status']}); it cannot be a final pick")
            if row["late"]:
                raise StoreError(f"submission {submission} came after the deadline; it cannot be a final pick")
            if row["void_reason"] and chosen:
                raise StoreError(f"submission {submission} was voided by the host ({row['void_reason']}); it cannot "
                                 f"be a final pick")
            picks = db.execute("SELECT COUNT(*) FROM submissions WHERE team = ? AND selected = 1 AND id != ?",
                               (team, submission)).fetchone()[0]
            if chosen and picks >= max_picks:
                raise StoreError(f"team {team!r} has {picks} final picks already, the most allowed; unselect one first")
            db.execute("UPDATE submissions SET selected = ? WHERE id = ?", (int(chosen), submission))
        return {**dict(row), "selected": int(chosen)}

    def void(self, submission: int, reason: str | None) -> dict:
        """Void one submission (``reason``: why, shown to its team and in the export) or, with None,
        restore it. A voided submission is kept and shown but never ranked or picked: a pick on it
        is dropped. Recorded in the journal in the same transaction."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM submissions WHERE id = ?", (submission,)).fetchone()
            if row is None:
                raise StoreError(f"no submission {submission} (python -m competition.server export lists them)")
            if reason is None and not row["void_reason"]:
                raise StoreError(f"submission {submission} is not voided")
            db.execute("UPDATE submissions SET void_reason = ?, selected = selected * (? IS NULL) WHERE id = ?",
                       (reason, reason, submission))
            self.record("void" if reason else "unvoid", f"submission {submission} of team {row['team']!r}"
                        + (f": {reason}" if reason else ""), db)
        return {**dict(row), "void_reason": reason}

    # --- the journal: what the host did, and uploads refused ---
    def record(self, action: str, detail: str, db: sqlite3.Connection | None = None) -> None:
        """One line of the journal (``action``: a command's name, or ``refused``); inside the caller's
        transaction ``db`` when given, so that a change and its record commit together."""
        line = (clock.iso(clock.now()), action, detail[:1000])
        if db is not None:
            db.execute("INSERT INTO journal (time, action, detail) VALUES (?, ?, ?)", line)
            return
        with self.transaction() as db:
            db.execute("INSERT INTO journal (time, action, detail) VALUES (?, ?, ?)", line)

    def journal(self, most: int = 500) -> list[dict]:
        """The latest ``most`` lines of the journal, newest first."""
        return [dict(row) for row in self.connection().execute(
            "SELECT time, action, detail FROM journal ORDER BY id DESC LIMIT ?", (most,))]

    def activity(self, now: datetime) -> list[dict]:
        """Per team, in name order: members, scored and failed uploads today (the UTC day of ``now``)
        and in all, the last upload, disabled. For ``server teams`` and the admin page."""
        start = clock.iso(clock.day(now)[0])
        found = {team: {"team": team, "members": members, "scored": 0, "scored_today": 0, "failed": 0,
                        "failed_today": 0, "last": None, "disabled": False} for team, members in self.members().items()}
        for team in self.disabled():
            found[team]["disabled"] = True
        for team, status, today, n, last in self.connection().execute(
                "SELECT team, status, time >= ?, COUNT(*), MAX(time) FROM submissions GROUP BY team, status, time >= ?",
                (start, start)):
            kind = "scored" if status == "ok" else "failed"
            found[team][kind] += n
            if today:
                found[team][f"{kind}_today"] += n
            found[team]["last"] = max(found[team]["last"] or "", last)
        return list(found.values())

    def wrong_token(self, address: str, now: float, window: float, limit: int) -> int:
        """Record one wrong token from ``address`` (``now``: seconds since the epoch, the same clock in
        every worker process); the seconds it must wait when it has sent more than ``limit`` in
        ``window``, else 0. Kept here so that ``serve --workers N`` throttles as one server."""
        with self.transaction() as db:
            db.execute("DELETE FROM wrong_tokens WHERE time <= ?", (now - window,))
            db.execute("INSERT INTO wrong_tokens VALUES (?, ?)", (address, now))
            count, first = db.execute("SELECT COUNT(*), MIN(time) FROM wrong_tokens WHERE address = ?",
                                      (address,)).fetchone()
        return 0 if count <= limit else int(first + window - now) + 1

    def rescore(self, scores: dict[int, dict], settings: dict, score_row: Callable[[dict], dict],
                note: str = "") -> int:
        """Replace the public/private scores of the given submissions (id -> scores) and record the
        key they came from (``settings``, with its ``key_sha256``), all at once. Rows scored since
        ``scores`` was computed (uploads during the rescore) are scored here with ``score_row``, under
        the write lock, so none keeps the superseded key's scores; ``note`` goes to the journal. Returns
        how many those were."""
        update = ("UPDATE submissions SET public = ?, private = ?, public_rows = ?, private_rows = ?, key_sha256 = ? "
                  "WHERE id = ?")
        key = settings["key_sha256"]
        with self.transaction() as db:
            self.record("rescore", note or f"{len(scores)} submission(s)", db)
            db.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)",
                           [(name, json.dumps(value)) for name, value in settings.items()])
            db.executemany(update, [(s["public"], s["private"], s["public_rows"], s["private_rows"], key, i)
                                    for i, s in scores.items()])
            late = [dict(row) for row in db.execute(
                "SELECT * FROM submissions WHERE status = 'ok' AND key_sha256 IS NOT ?", (key,))]
            for row in late:
                s = score_row(row)
                db.execute(update, (s["public"], s["private"], s["public_rows"], s["private_rows"], key, row["id"]))
        return len(late)

    @staticmethod
    def count_late_before(db: sqlite3.Connection, deadline: str | None) -> int:
        """At a reopen (``set --deadline ... --reopen``), inside its transaction ``db``: the late rows
        uploaded before the new ``deadline`` (all of them when it is None) are on time under it, so they
        count, rank and may be picked again, and the tally follows. Returns how many they were."""
        moved = db.execute("UPDATE submissions SET late = 0 WHERE late = 1 AND (? IS NULL OR time <= ?)",
                           (deadline, deadline)).rowcount
        if moved:
            db.execute("DELETE FROM team_tally")
            db.execute("INSERT INTO team_tally SELECT team, COUNT(*), MAX(time) FROM submissions "
                       "WHERE status = 'ok' AND late = 0 GROUP BY team")
        return moved

    def own_key(self, source: Path) -> tuple[Path, str]:
        """Copy an answer key beside the database (mode 0600, named by its sha256), so that the grader
        never depends on the host's file again (moved, deleted or edited): ``(copy, sha256)``."""
        data = source.read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        owned = self.key_file(sha256)
        if not owned.is_file() or hashlib.sha256(owned.read_bytes()).hexdigest() != sha256:
            write_bytes_atomic(owned, data, secret=True)
        return owned, sha256

    def key_file(self, sha256: str) -> Path:
        return self.keys / f"{sha256}.csv"

    # --- settings and the end ---
    def setting(self, key: str):
        row = self.connection().execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def settings(self) -> dict:
        return {key: json.loads(value) for key, value in self.connection().execute("SELECT key, value FROM settings")}

    def set_setting(self, key: str, value) -> None:
        self.set_settings({key: value})

    def set_settings(self, values: dict, unset: tuple[str, ...] = ()) -> None:
        """Write several settings (and remove ``unset`` ones) in one transaction."""
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)",
                           [(key, json.dumps(value)) for key, value in values.items()])
            db.executemany("DELETE FROM settings WHERE key = ?", [(key,) for key in unset])

    def ended(self, now: datetime | None = None) -> bool:
        """Whether the competition is over (``settings.ended``: revealed, or its deadline's second reached)."""
        return ended(self.settings(), now or clock.now())

