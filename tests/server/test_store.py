"""The grader's store on its own: a real SQLite file, the host's commands in other processes. What
only the store guarantees: the file is a grader's (another program's is refused untouched), a 201's
row is on disk, kept uploads are the host's alone, a board ranks by the metric's direction, a busy
database is said in seconds, a rescore leaves no row scored by the superseded key."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from competition.server.store import APPLICATION_ID, SCHEMA, Store, StoreError
from competition.server.__main__ import main as server_main
from tests.helpers import host, in_process, refused

ROW = {"team": "ants", "time": "2026-12-01T10:00:00Z", "file": "a.csv", "name": "a.csv", "message": "",
       "metric": "log_loss", "status": "ok", "public": 0.5, "private": 0.5, "public_rows": 1, "private_rows": 1}


def stored(store: Store, **rows: dict) -> dict[str, dict]:
    """Rows added as an upload adds them (``sha256`` from each name, its bytes the name)."""
    with store.transaction():
        return {name: store.add({**ROW, "sha256": name, **row}, name.encode()) for name, row in rows.items()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_db_that_is_no_regular_file_is_refused_by_its_kind(tmp_path):
    pipe = tmp_path / "grader.fifo"
    os.mkfifo(pipe)
    for path, kind in ((tmp_path, "a folder"), (pipe, "a named pipe")):
        with pytest.raises(StoreError) as refusal:
            Store(path)
        assert str(refusal.value) == f"--db {path}: not a regular file ({kind})"
    assert stat.S_ISFIFO(pipe.stat().st_mode) and sorted(os.listdir(tmp_path)) == ["grader.fifo"]


def test_another_programs_database_is_refused_before_anything_is_written(tmp_path):
    for name, schema in (("users.sqlite", "CREATE TABLE users (name TEXT)"),
                         ("shop.sqlite", "CREATE TABLE submissions (id INTEGER, body TEXT)"),
                         ("other.sqlite", "PRAGMA application_id = 7; CREATE TABLE teams (name TEXT)")):
        theirs = tmp_path / name
        with sqlite3.connect(theirs) as db:
            db.executescript(schema)
        before = sha256(theirs)
        for command in (("teams",), ("add-team", "ants"),
                        ("set", "--daily-limit", "3"))[:3 if name == "users.sqlite" else 1]:
            refused(host(theirs, *command), "another program's SQLite database")
        assert sha256(theirs) == before and not theirs.with_name(name + "-wal").exists(), name
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all\n" * 10)
    refused(host(text, "teams"), "not a grader database")
    assert text.read_text() == "not a database at all\n" * 10


def test_a_new_database_and_one_made_before_the_application_id_are_a_graders(tmp_path):
    new = Store(tmp_path / "new.sqlite")
    assert new.connection().execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as db:  # a grader's tables, no id: as graders made them until now
        db.executescript(SCHEMA)
        db.execute("INSERT INTO teams (name, created) VALUES ('ants', '2026-11-30T10:00:00Z')")
    done = host(old, "teams")
    assert done.returncode == 0 and "ants" in done.stdout, done.stderr
    with sqlite3.connect(old) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_every_connection_syncs_each_commit_to_disk(tmp_path):
    store = Store(tmp_path / "grader.sqlite")
    assert store.connection().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: a 201's row is on disk
    with store.transaction() as db:
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_kept_uploads_are_the_hosts_alone(tmp_path):
    store = Store(tmp_path / "grader.sqlite")
    store.add_team("ants")
    stored(store, a={})
    kept = tmp_path / "grader.sqlite.files" / "a.csv"
    assert kept.read_bytes() == b"a" and stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_a_lower_is_better_board_stands_by_each_teams_lowest_public_score(tmp_path):
    store = Store(tmp_path / "grader.sqlite")
    store.add_team("ants")
    stored(store, worse={"public": 0.9}, best={"public": 0.2}, middle={"public": 0.5})
    rows, tally = store.standing_rows(higher_is_better=False)
    assert [row["public"] for row in rows] == [0.2] and tally["ants"][0] == 3
    assert [row["public"] for row in store.standing_rows(higher_is_better=True)[0]] == [0.9]


def test_rows_stored_while_a_rescore_scored_are_rescored_under_its_lock(tmp_path):
    """``Store.rescore``: a row stored with the old key after the rescore read the rows (so not in
    ``scores``) is scored inside the rescore's transaction."""
    store = Store(tmp_path / "grader.sqlite")
    store.add_team("ants")
    rows = stored(store, first={}, late={})
    new = {"public": 0.9, "private": 0.8, "public_rows": 1, "private_rows": 1}
    assert store.rescore({rows["first"]["id"]: new}, {"key_sha256": "new", "solution": "fixed.csv"}, lambda r: new) == 1
    assert [(r["public"], r["key_sha256"]) for r in store.submissions()] == [(0.9, "new")] * 2


def test_a_host_command_on_a_locked_database_says_so_within_seconds(tmp_path):
    db = tmp_path / "grader.sqlite"
    Store(db).add_team("ants")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); db.execute('BEGIN IMMEDIATE');"
        " print('held', flush=True); sys.stdin.read()"), str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        began = time.monotonic()
        done = host(db, "set", "--daily-limit", "3")
        refused(done, "the grader's database is busy")
        assert f"pid {holder.pid} (" in done.stderr and time.monotonic() - began < 30
    finally:
        holder.communicate("")
    assert host(db, "set", "--daily-limit", "3").returncode == 0


def test_the_default_database_never_lands_inside_a_competition_folder(fashion_copy, tmp_path):
    inside = fashion_copy / "images"
    before = sorted(path.name for path in fashion_copy.iterdir())
    assert in_process(server_main, "add-team", "ants", cwd=inside).returncode == 0
    beside = fashion_copy.with_name(fashion_copy.name + ".grader") / "grader.sqlite"
    assert Store(beside).teams() == ["ants"] and sorted(path.name for path in fashion_copy.iterdir()) == before
    assert "ants" in in_process(server_main, "teams", cwd=fashion_copy).stdout, \
        "every command there finds the same database"
    outside = tmp_path / "class"
    outside.mkdir()
    assert in_process(server_main, "add-team", "bees", cwd=outside).returncode == 0
    assert Store(outside / "grader.sqlite").teams() == ["bees"]
    Store(fashion_copy / "grader.sqlite")  # where an earlier version put it: refused, never a second database
    refused(in_process(server_main, "teams", cwd=fashion_copy), "move it and its grader.sqlite.* folders to")
    assert in_process(server_main, "teams", "--db", "grader.sqlite", cwd=fashion_copy).returncode == 0, \
        "an explicit --db still works"


def test_a_reopen_counts_the_late_uploads_before_the_new_deadline(tmp_path):
    """Late rows (uploaded after the old deadline, with late uploads on) are on time under a new,
    later deadline: after ``set --deadline ... --reopen`` they rank, are tallied and may be picked."""
    from datetime import timedelta

    from competition import clock
    from competition.grade.standings import team_standings

    db = tmp_path / "grader.sqlite"
    store = Store(db)
    store.add_members([("ants", "ann"), ("bees", "bob")])
    past = clock.now() - timedelta(hours=2)
    store.set_settings({"deadline": clock.iso(past), "late": True})
    rows = stored(store, early={"time": clock.iso(past - timedelta(hours=1)), "public": 0.4},
                  late={"team": "bees", "time": clock.iso(past + timedelta(hours=1)), "late": 1, "public": 0.3})
    before, tally = store.standing_rows(higher_is_better=False)
    assert [line["team"] for line in team_standings(before, False, tally=tally, higher_is_better=False)] == ["ants"]
    later = clock.iso(clock.now() + timedelta(days=3))
    done = host(db, "set", "--deadline", later, "--reopen")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 late submission(s), uploaded before the new deadline, now count")
    after, tally = store.standing_rows(higher_is_better=False)
    assert [line["team"]
            for line in team_standings(after, False, tally=tally, higher_is_better=False)] == ["bees", "ants"]
    assert tally["bees"][0] == 1 and not Store(db).submissions("bees")[0]["late"]
    assert store.select("bees", rows["late"]["id"], True, 2)["selected"]
    assert "1 late submission(s) before the new deadline now count" in store.journal()[0]["detail"]
