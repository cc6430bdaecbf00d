"""The grader's rules without a server: when the competition ends, what freezes then, how teams
rank, which settings a restart or a ``set`` may change. Times are passed in (``now=``), never read
from the clock, so a test never depends on when it runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from competition import clock
from competition.grade.grader import predictions_digest
from competition.server import settings as rules
from competition.grade.standings import rank_of, team_standings
from competition.server.store import Frozen, Store, StoreError

DEADLINE = datetime(2026, 12, 18, 17, 0, 0, tzinfo=timezone.utc)
SECOND = timedelta(seconds=1)


def row(id, team, public, private, *, selected=0, status="ok", late=0, time=None):
    return {"id": id, "team": team, "public": public, "private": private, "selected": selected, "status": status,
            "late": late, "time": time or f"2026-12-01T10:{id:02d}:00Z"}


def test_the_deadline_second_belongs_to_the_end():
    stored = {"deadline": clock.iso(DEADLINE)}
    assert not rules.ended(stored, DEADLINE - SECOND)
    assert rules.ended(stored, DEADLINE) and rules.ended(stored, DEADLINE + SECOND)
    assert rules.ended({"deadline": None, "revealed": "2026-12-01T00:00:00Z"}, DEADLINE - SECOND)
    assert not rules.ended({"deadline": None}, DEADLINE)


def test_the_store_ends_at_the_deadline_second_and_freezes_picks(tmp_path):
    store = Store(tmp_path / "grader.sqlite")
    store.add_team("ants")
    store.set_setting("deadline", clock.iso(DEADLINE))
    with store.transaction():
        first = store.add({"team": "ants", "time": "2026-12-01T10:00:00Z", "file": "a.csv", "name": "a", "message": "",
                           "metric": "accuracy", "sha256": "a" * 64, "status": "ok", "public": 0.5, "private": 0.6},
                          b"x")
    assert not store.ended(DEADLINE - SECOND) and store.ended(DEADLINE)
    assert store.select("ants", first["id"], True, 2, now=DEADLINE - SECOND)["selected"] == 1
    for chosen in (False, True):
        with pytest.raises(Frozen, match="final picks are frozen"):
            store.select("ants", first["id"], chosen, 2, now=DEADLINE)
    assert store.submissions("ants")[0]["selected"] == 1, "a refused unselect changes nothing"


def test_after_the_end_teams_rank_by_the_private_score_of_their_picks():
    rows = [row(1, "ants", 0.90, 0.70), row(2, "ants", 0.80, 0.95, selected=1),
            row(3, "bees", 0.85, 0.90), row(4, "cats", 0.99, 0.60)]
    before = team_standings(rows, False)
    assert [line["team"] for line in before] == ["cats", "ants", "bees"] and "private" not in before[0]
    after = team_standings(rows, True)
    assert [(line["team"], line["private"]) for line in after] == [("ants", 0.95), ("bees", 0.90), ("cats", 0.60)]
    assert after[0]["picks"] == [2] and after[0]["final_public"] == 0.80 and after[1]["picks"] == [3], \
        "no pick: the best-public submission counts"
    assert [line["public_rank"] for line in after] == [2, 3, 1]


def test_of_two_picks_the_better_private_score_counts_in_the_metrics_direction():
    rows = [row(1, "ants", 0.90, 0.70, selected=1), row(2, "ants", 0.80, 0.95, selected=1),
            row(3, "bees", 0.85, 0.90)]
    (ants, bees) = team_standings(rows, True)
    assert (ants["team"], ants["private"], ants["final_public"], ants["picks"]) == ("ants", 0.95, 0.80, [1, 2])
    lower = {line["team"]: line for line in team_standings(rows, True, higher_is_better=False)}
    assert lower["ants"]["private"] == 0.70 and lower["ants"]["final_public"] == 0.90


def test_ties_go_to_the_team_that_got_there_first_and_late_entries_never_rank():
    rows = [row(1, "late-team", 0.5, 0.5), row(2, "bees", 0.8, 0.8), row(3, "ants", 0.8, 0.8),
            row(4, "late-team", 1.0, 1.0, late=1), row(5, "ants", 0.1, 0.1, status="error")]
    for ended in (False, True):
        lines = team_standings(rows, ended)
        assert [line["team"] for line in lines] == ["bees", "ants", "late-team"]
        assert lines[2]["public"] == 0.5 and lines[2]["submissions"] == 1 and lines[1]["submissions"] == 1
    assert rank_of("ants", team_standings(rows, False)) == 2 and rank_of("nobody", team_standings(rows, False)) is None


def test_a_lower_is_better_metric_ranks_ascending():
    rows = [row(1, "ants", 0.30, 0.20), row(2, "bees", 0.10, 0.40)]
    assert [line["team"] for line in team_standings(rows, False, higher_is_better=False)] == ["bees", "ants"]
    assert [line["team"] for line in team_standings(rows, True, higher_is_better=False)] == ["ants", "bees"]


def test_a_restart_may_not_change_a_stored_setting():
    now = DEADLINE - timedelta(days=3)
    first = rules.first_start({}, {"daily_limit": 3, "deadline": DEADLINE}, now)
    assert first == {**rules.DEFAULTS, "daily_limit": 3, "deadline": clock.iso(DEADLINE)}
    assert rules.first_start(first, {}, now) == {}, "no flags: the stored settings stay"
    assert rules.first_start(first, {"daily_limit": 3}, now) == {}, "the same value is no contradiction"
    with pytest.raises(rules.SettingsError, match=r"--daily-limit 5: this competition's daily limit is 3.*set"):
        rules.first_start(first, {"daily_limit": 5}, now)
    with pytest.raises(rules.SettingsError, match="--deadline"):
        rules.first_start(first, {"deadline": DEADLINE + timedelta(days=1)}, now)
    with pytest.raises(rules.SettingsError, match="has passed already.*--end-now"):
        rules.first_start({}, {"deadline": now - SECOND}, now)


def test_an_ended_competition_stays_ended_unless_reopened():
    stored = {**rules.DEFAULTS, "deadline": clock.iso(DEADLINE)}
    after = DEADLINE + timedelta(hours=1)
    for later in (DEADLINE + timedelta(days=1), None):
        with pytest.raises(rules.SettingsError, match="ended.*--reopen"):
            rules.change(stored, {"deadline": later}, after)
    write, unset = rules.change({**stored, "revealed": "x"}, {"deadline": DEADLINE + timedelta(days=1)}, after,
                                reopen=True)
    assert write["deadline"] == clock.iso(DEADLINE + timedelta(days=1)) and unset == ("revealed",)
    with pytest.raises(rules.SettingsError, match="frozen"):
        rules.change(stored, {"final_picks": 3}, after)
    assert rules.change(stored, {"daily_limit": 9}, after) == ({"daily_limit": 9}, ())
    with pytest.raises(rules.SettingsError, match="--reopen goes with"):
        rules.change(stored, {}, after, reopen=True)


def test_a_past_deadline_ends_the_competition_only_on_purpose():
    stored = {**rules.DEFAULTS}
    now = DEADLINE
    with pytest.raises(rules.SettingsError, match="2026-12-18T16:00:00Z has passed already.*--end-now"):
        rules.change(stored, {"deadline": now - timedelta(hours=1)}, now)
    with pytest.raises(rules.SettingsError, match="has passed already"):
        rules.change(stored, {"deadline": now}, now)
    write, _ = rules.change(stored, {"deadline": now - timedelta(hours=1)}, now, end_now=True)
    assert rules.ended({**stored, **write}, now)
    assert rules.change(stored, {"deadline": None}, now) == ({"deadline": None}, ())
    with pytest.raises(rules.SettingsError, match="holds 2 picks"):
        rules.change(stored, {"final_picks": 1}, now, most_picks=2)
    for key, bad in (("daily_limit", 0), ("failed_limit", -1), ("final_picks", 0), ("title", "x" * 101)):
        with pytest.raises(rules.SettingsError):
            rules.change(stored, {key: bad}, now)


def test_the_same_predictions_are_the_same_submission_whatever_the_bytes():
    assert predictions_digest({"1": "a", "2": "b"}) == predictions_digest({"2": "b", "1": "a"})
    assert predictions_digest({"1": "a", "2": "b"}) != predictions_digest({"1": "b", "2": "a"})
    assert predictions_digest({"1": "ab"}) != predictions_digest({"1a": "b"})


def test_members_share_a_team_and_names_are_checked(tmp_path):
    store = Store(tmp_path / "grader.sqlite")
    made = store.add_members([("ants", "ann"), ("ants", "abe"), ("bees", "bob")])
    assert [store.member_of(token) for _, _, token in made] == [
        {"team": "ants", "member": "ann", "disabled": False}, {"team": "ants", "member": "abe", "disabled": False},
        {"team": "bees", "member": "bob", "disabled": False}]
    with pytest.raises(StoreError, match="'bob' is in team 'bees' already"):
        store.add_members([("ants", "bob")])
    assert store.members() == {"ants": ["ann", "abe"], "bees": ["bob"]}
    with pytest.raises(StoreError, match="not valid UTF-8"):
        store.add_team("ab\udce9")
    with pytest.raises(StoreError, match="2 members .*--member"):
        store.rotate_token("ants")
    member, token = store.rotate_token("ants", "abe")
    assert member == "abe" and store.member_of(made[1][2]) is None and store.member_of(token)["member"] == "abe"
    store.set_disabled("bees", True)
    assert store.member_of(made[2][2])["disabled"] and store.disabled() == {"bees"}


def test_a_first_schema_database_keeps_its_teams_tokens_and_submissions(tmp_path):
    import sqlite3

    from competition.server.store import token_hash

    path = tmp_path / "grader.sqlite"
    with sqlite3.connect(path) as db:  # the schema of the first grader server
        db.executescript("""
            CREATE TABLE teams (name TEXT PRIMARY KEY, token_sha256 TEXT UNIQUE NOT NULL, created TEXT NOT NULL);
            CREATE TABLE submissions (id INTEGER PRIMARY KEY AUTOINCREMENT, team TEXT NOT NULL, time TEXT NOT NULL,
                file TEXT NOT NULL, name TEXT NOT NULL, message TEXT NOT NULL, metric TEXT NOT NULL,
                sha256 TEXT NOT NULL, status TEXT NOT NULL, error TEXT, public REAL, private REAL, public_rows INTEGER,
                private_rows INTEGER, selected INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);""")
        db.execute("INSERT INTO teams VALUES ('ants', ?, '2026-11-01T00:00:00Z')", (token_hash("old-token"),))
        db.execute("INSERT INTO submissions (team, time, file, name, message, metric, sha256, status, public, private) "
                   "VALUES ('ants', '2026-11-02T00:00:00Z', 'a.csv', 'a', '', 'accuracy', ?, 'ok', 0.5, 0.6)",
                   ("b" * 64,))
    for _ in range(2):  # opening it again changes nothing more
        store = Store(path)
        assert store.member_of("old-token") == {"team": "ants", "member": "ants", "disabled": False}
        assert store.submissions()[0]["late"] == 0 and store.find("ants", "b" * 64)["id"] == 1


def test_the_quota_counts_a_team_from_the_first_second_of_its_utc_day(fashion_small, tmp_path):
    from competition.grade.grader import Grader
    from tests.helpers import submission

    key = __import__("pandas").read_csv(fashion_small.with_name(fashion_small.name + ".grader") / "solution.csv",
                                        dtype=str)
    store = Store(tmp_path / "grader.sqlite")
    store.add_members([("ants", "ann"), ("ants", "abe")])
    grader = Grader(fashion_small, daily_limit=2)
    midnight = datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert grader.grade(submission(key, wrong=9, seed=9), store, team="ants", now=midnight - SECOND,
                        extra={"member": "ann"})["submissions_left_today"] == 1, "the day before is another day"
    answers = [grader.grade(submission(key, wrong=n, seed=n), store, team="ants", now=midnight + n * SECOND,
                            extra={"member": member}) for n, member in enumerate(["ann", "abe", "ann"])]
    assert [a["status"] for a in answers] == ["ok", "ok", "over-limit"], "members share their team's quota"
    assert [a["submissions_left_today"] for a in answers] == [1, 0, 0]
    tomorrow = grader.grade(submission(key, wrong=7, seed=7), store, team="ants", now=midnight + timedelta(days=1))
    assert tomorrow["status"] == "ok" and tomorrow["submissions_left_today"] == 1


def test_the_board_from_the_stores_candidates_equals_the_board_from_every_row(tmp_path):
    """One ranking rule: the store hands ``team_standings`` only each team's best-public row, its picks
    and its tally, and the board is the one drawn from every row (ties, late and failed rows, picks)."""
    import random

    store = Store(tmp_path / "grader.sqlite")
    teams = [store.add_team(name) and name for name in ("ants", "bees", "cats", "dogs")]
    chance = random.Random(3)
    with store.transaction():
        for n in range(300):
            team, status = chance.choice(teams[:3]), chance.choice(["ok", "ok", "ok", "error"])
            hour = n * 37 % 300  # rows stored out of time order (several worker processes)
            store.add({"team": team, "time": f"2026-12-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z", "file": "f.csv",
                       "name": "f", "message": "", "metric": "accuracy", "sha256": f"{n:064x}", "status": status,
                       "public": chance.choice([0.5, 0.6, 0.7]) if status == "ok" else None,
                       "private": chance.random() if status == "ok" else None, "late": n % 7 == 0}, b"x")
    every = store.submissions()
    for row in every:
        if row["status"] == "ok" and not row["late"] and row["id"] % 5 == 0 and row["team"] != "cats":
            store.connection().execute("UPDATE submissions SET selected = 1 WHERE id = ?", (row["id"],))
    every = store.submissions()
    rows, tally = store.standing_rows()
    assert len(rows) < len(every) / 4, "only the candidates are read"
    for ended in (False, True):
        assert team_standings(rows, ended, tally=tally) == team_standings(every, ended)
    reopened = Store(tmp_path / "grader.sqlite")
    reopened.connection().execute("DROP TABLE team_tally")
    assert Store(tmp_path / "grader.sqlite").standing_rows()[1] == tally, "an older database gets its tally at open"


def test_writers_and_uploads_get_their_turn_in_the_order_they_came():
    """``FifoSlots``: the waiting threads are served first come, first served (a plain lock or
    SQLite's busy handler serves them in no set order), and a wait that times out leaves the queue."""
    import threading

    from competition.server.store import FifoSlots

    slots, served, waiters = FifoSlots(1), [], []
    assert slots.acquire(0)
    assert not slots.acquire(0.01), "taken: a timed-out wait returns False"

    def wait(n):
        assert slots.acquire(30)
        served.append(n)
        slots.release()

    for n in range(8):
        waiters.append(threading.Thread(target=wait, args=(n,)))
        waiters[-1].start()
        for _ in range(30_000):  # queued before the next one comes
            if len(slots._queue) == n + 1:
                break
            threading.Event().wait(0.001)
    slots.release()
    for thread in waiters:
        thread.join(30)
    assert served == list(range(8))
    assert slots.acquire(0), "free again once all are served"


def test_the_data_zip_holds_exactly_the_competitors_files_whatever_else_the_folder_holds(fashion_copy, tmp_path):
    import zipfile

    from competition.server.bundle import pack_competition

    expected = sorted(["train.csv", "test_sample.csv", "classes.csv", "competition.json"]
                      + [f"images/{part}/{p.name}" for part in ("train", "test")
                         for p in (fashion_copy / "images" / part).iterdir()])
    key = fashion_copy / "answers" / "solution.csv"
    key.parent.mkdir()
    for host_file in (key, fashion_copy / "solution_fixed.csv", fashion_copy / "grader.sqlite",
                      fashion_copy / "grader.sqlite-wal", fashion_copy / "grader.sqlite.files" / "ab12.csv",
                      fashion_copy / "notes.txt", fashion_copy / "images" / "train" / "solution.csv",
                      fashion_copy / "images" / "stray.png", fashion_copy / "images" / "test" / ".x.png",
                      fashion_copy / ".cache-x"):
        host_file.parent.mkdir(exist_ok=True)
        host_file.write_text("id,class,Usage\n")
    (fashion_copy / "images" / "test" / "link.png").symlink_to(fashion_copy / "solution_fixed.csv")
    path, sha256 = pack_competition(fashion_copy, tmp_path)
    assert sorted(zipfile.ZipFile(path).namelist()) == expected
    again, same = pack_competition(fashion_copy, tmp_path / "again")
    assert same == sha256 and again.read_bytes() == path.read_bytes(), "the same folder, the same bytes"


def test_a_download_that_arrives_damaged_is_refused_and_nothing_is_unpacked(tmp_path):
    import hashlib
    import http.server
    import threading

    from competition.client.download import DownloadError, download
    from competition.wire import DATA_SHA256_HEADER

    body = b"PK\x05\x06" + bytes(18)  # an empty zip
    class Damaged(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header(DATA_SHA256_HEADER, hashlib.sha256(b"other bytes").hexdigest())
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Damaged)
    threading.Thread(target=server.handle_request, daemon=True).start()
    try:
        with pytest.raises(DownloadError, match="arrived damaged"):
            download(f"http://127.0.0.1:{server.server_port}", "token", tmp_path / "data", timeout=10)
    finally:
        server.server_close()
    assert list(tmp_path.iterdir()) == [], "no folder, no temporary file left"


def test_members_whose_tokens_cannot_be_written_are_not_left_behind(tmp_path, monkeypatch):
    from competition.server import __main__ as host

    store = Store(tmp_path / "grader.sqlite")
    roster = tmp_path / "roster.csv"
    roster.write_text("team,member\nants,ann\nbees,bob\n")

    def full_disk(path, made):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(host, "write_tokens", full_disk)
    with pytest.raises(OSError):
        host.add_teams(store, roster, tmp_path / "tokens.csv")
    assert store.members() == {} and store.teams() == []


def test_wrong_tokens_are_counted_in_the_database_for_every_worker(tmp_path):
    first, second = Store(tmp_path / "grader.sqlite"), Store(tmp_path / "grader.sqlite")  # two worker processes
    waits = [(first if n % 2 else second).wrong_token("10.0.0.7", 1000.0 + n, 60, 20) for n in range(22)]
    assert waits[:20] == [0] * 20 and waits[20:] == [41, 40], "the 21st in a minute waits for the oldest to age"
    assert first.wrong_token("10.0.0.8", 1021.0, 60, 20) == 0, "per address"
    assert second.wrong_token("10.0.0.7", 1000.0 + 80, 60, 20) == 0, "a minute later the count starts again"


def test_activity_counts_each_team_today_and_in_all(tmp_path):
    store = Store(tmp_path / "grader.sqlite")
    store.add_members([("ants", "ann"), ("ants", "abe"), ("bees", "bob")])
    store.set_disabled("bees", True)
    rows = [("2026-11-30T23:59:59Z", "ok"), ("2026-12-01T00:00:00Z", "ok"), ("2026-12-01T08:00:00Z", "error")]
    with store.transaction():
        for n, (time_, status) in enumerate(rows):
            store.add({"team": "ants", "time": time_, "file": "f.csv", "name": "f", "message": "", "metric": "accuracy",
                       "sha256": f"{n}" * 64, "status": status, "public": 0.5, "private": 0.5}, b"x")
    ants, bees = store.activity(datetime(2026, 12, 1, 12, tzinfo=timezone.utc))
    assert ants == {"team": "ants", "members": ["ann", "abe"], "scored": 2, "scored_today": 1, "failed": 1,
                    "failed_today": 1, "last": "2026-12-01T08:00:00Z", "disabled": False}
    assert bees["disabled"] and bees["scored"] == bees["failed"] == 0 and bees["last"] is None


def test_the_store_version_changes_with_every_write_whoever_makes_it(tmp_path):
    """The board is read again only when ``Store.version`` changes: a write it missed would leave a
    stale board on every projector."""
    store = Store(tmp_path / "grader.sqlite")
    before = store.version()
    assert store.version() == before, "nothing written: the same version (the board is not read again)"
    store.add_team("ants")  # this thread's own write
    mine = store.version()
    assert mine != before
    Store(tmp_path / "grader.sqlite").add_team("bees")  # another connection: a host's command, another worker
    assert store.version() != mine


def test_no_token_starts_with_a_dash_which_a_command_line_would_read_as_an_option(tmp_path, monkeypatch, capsys):
    import itertools

    from competition.server import __main__ as host_main
    from competition.server import store as store_module

    tokens = [store_module.new_token() for _ in range(3000)]  # token_urlsafe alone: ~47 start with '-'
    assert not [t for t in tokens if t.startswith("-")] and len(set(tokens)) == 3000 and min(map(len, tokens)) >= 43
    draws = itertools.chain.from_iterable(("-dash", f"plain{n}") for n in itertools.count())
    monkeypatch.setattr(store_module.secrets, "token_urlsafe", lambda size: next(draws))
    store = Store(tmp_path / "grader.sqlite")
    made = [store.add_team("ants"), *(token for _, _, token in store.add_members([("bees", "bo"), ("bees", "bi")])),
            store.rotate_token("ants")[1]]
    assert host_main.main(["admin-token", "--db", str(tmp_path / "grader.sqlite")]) == 0
    made.append(capsys.readouterr().out.split()[-1])
    assert made == ["plain0", "plain1", "plain2", "plain3", "plain4"], "every token a command hands out"


@pytest.mark.parametrize("text, most, least, problem", [
    ("Class 7B", 100, 0, None), ("", 40, 1, rules.TOO_LONG), ("x" * 41, 40, 1, rules.TOO_LONG),
    ("Alpha\u200b", 40, 1, "U+200B ZERO WIDTH SPACE"), ("x\udcff", 40, 1, rules.NOT_TEXT),
])
def test_one_printable_text_rule_for_team_names_and_the_title(text, most, least, problem):
    assert rules.printable(text, most, least) == problem
