"""A class competition end to end, on a real server (uvicorn on loopback) driven by the host's
commands in other processes: settings that survive restarts, picks that freeze at the deadline,
teams from a roster, the data handed out, re-scoring, late uploads and the exported result."""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
from PIL import Image

from competition import clock
from competition.data.loader import load_competition
from competition.server.store import Store
from competition.client.upload import main as upload_main
from competition.grade.__main__ import main as grade_main
from tests.helpers import Server, host, in_process, leftover, public_score, refused, run_cli, submission

pytestmark = pytest.mark.usefixtures("clear_of_midnight")  # quotas follow the real UTC day


def serve_refused(data: Path, db: Path, *options: str) -> subprocess.CompletedProcess:
    return run_cli("competition.server", "serve", "--data", data, "--db", db, "--port", "1", *options, timeout=120)


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def pick(server: Server, token: str, submission_id: int, chosen: bool = True) -> httpx.Response:
    return httpx.request("POST" if chosen else "DELETE", f"{server.url}/api/submissions/{submission_id}/select",
                         headers=auth(token), timeout=30)


def at_next_whole_second(seconds: int) -> datetime:
    now = clock.now()
    return now.replace(microsecond=0) + timedelta(seconds=seconds + 1)


def test_picks_freeze_at_the_deadline_while_threads_race(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    token = Store(db).add_team("racers")
    server = Server(fashion_small, db, "--final-picks", "2")
    try:
        ids = [server.upload(token, submission(key, wrong=w, seed=w)).json()["id"] for w in (3, 6, 9)]
        end = at_next_whole_second(3)
        assert host(db, "set", "--deadline", clock.iso(end)).returncode == 0
        answers, stop = [], end + timedelta(seconds=2)

        def race(n: int) -> None:
            k = 0
            while clock.now() < stop:
                began = clock.now()
                response = pick(server, token, ids[(n + k) % 3], chosen=(n + k) % 2 == 0)
                answers.append((began, clock.now(), response.status_code, response.json()))
                k += 1

        threads = [threading.Thread(target=race, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, (end - clock.now()).total_seconds()) + 0.5)
        held = [s["id"] for s in server.get("/api/submissions", token).json()["submissions"] if s["selected"]]
        for thread in threads:
            thread.join()
        after = [(status, body) for began, _, status, body in answers if began >= end]
        before = [status for _, answered, status, _ in answers if answered < end]
        assert after and all(status == 403 and "frozen" in body["error"] for status, body in after)
        assert before and set(before) <= {200, 409}, "before the end picks change (409: over the limit of 2)"
        final = [s["id"] for s in server.get("/api/submissions", token).json()["submissions"] if s["selected"]]
        assert final == held and len(final) <= 2, "nothing changed after the deadline second"
        assert server.get("/api/leaderboard").json()["teams"][0]["picks"] == (final or [ids[0]]), \
            "the standings use the picks held at the end (the best public file when none)"
    finally:
        server.stop()


def test_settings_live_with_the_competition_across_restarts(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    token = Store(db).add_team("ants")
    earlier, later = (clock.iso(clock.now() + timedelta(days=days)) for days in (-7, 365))  # whenever it runs
    naive = serve_refused(fashion_small, tmp_path / "other.sqlite", "--deadline", later[:16])
    assert naive.returncode == 1 and "has no time zone" in naive.stderr
    past = serve_refused(fashion_small, tmp_path / "other.sqlite", "--deadline", earlier)
    refused(past, f"--deadline {earlier} has passed already")
    server = Server(fashion_small, db, "--daily-limit", "2", "--title", "Class 7B")
    server.stop()
    refused(serve_refused(fashion_small, db, "--daily-limit", "4"),
            "--daily-limit 4: this competition's daily limit is 2")
    server = Server(fashion_small, db)
    try:
        assert server.get("/api/leaderboard").json()["competition"] == "Class 7B"
        assert server.upload(token, submission(key, wrong=1, seed=1)).json()["submissions_left_today"] == 1
        changed = host(db, "set", "--daily-limit", "4")
        assert changed.returncode == 0 and re.search(r"--daily-limit\s+4", changed.stdout), changed.stdout
        assert server.upload(token, submission(key, wrong=2, seed=2)).json()["submissions_left_today"] == 2, \
            "the running server follows the stored setting"
        refused(host(db, "set", "--deadline", earlier), "has passed already")
        assert host(db, "set", "--deadline", earlier, "--end-now").returncode == 0
        assert server.get("/api/leaderboard").json()["ended"]
        refused(host(db, "set", "--deadline", later), f"the competition ended at {earlier}")
        refused(host(db, "set", "--deadline", "none"), "--reopen")
        refused(host(db, "set", "--daily-limit", "0"), "--daily-limit")
    finally:
        server.stop()
    refused(serve_refused(fashion_small, db, "--deadline", later), "set --deadline")
    server = Server(fashion_small, db)
    try:
        assert server.get("/api/leaderboard").json()["ended"], "a restart never reopens an ended competition"
        assert host(db, "set", "--deadline", later, "--reopen").returncode == 0
        board = server.get("/api/leaderboard").json()
        assert not board["ended"] and board["deadline"] == later
        assert "private" not in board["teams"][0]
    finally:
        server.stop()
    shown = host(db, "set")
    assert shown.returncode == 0 and later in shown.stdout and "'Class 7B'" in shown.stdout


def test_a_serve_that_cannot_start_stores_nothing_and_one_that_can_serves_from_inside_its_folder(
        fashion_small, fashion_copy, tmp_path, monkeypatch):
    import socket

    from competition.data import overview

    db, solution = tmp_path / "grader.sqlite", fashion_small.with_name(fashion_small.name + ".grader") / "solution.csv"
    Store(db).add_team("ants")
    before = Store(db).settings()
    flags = ("--deadline", clock.iso(clock.now() + timedelta(days=30)), "--daily-limit", "3", "--title", "Class 7B")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    in_use = subprocess.run([sys.executable, "-m", "competition.server", "serve", "--data", str(fashion_copy), "--db",
                             str(db), "--solution", str(solution), "--port", str(busy.getsockname()[1]), *flags],
                            capture_output=True, text=True, timeout=120)
    busy.close()
    refused(in_use, "cannot listen there")
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    bad_cert = serve_refused(fashion_copy, db, "--solution", str(solution),
                             "--ssl-certfile", str(tmp_path / "cert.pem"),
                             "--ssl-keyfile", str(tmp_path / "cert.pem"), *flags)
    refused(bad_cert, "not a usable certificate and key")
    assert Store(db).settings() == before, "a start that failed stored none of its flags"
    overview.write(fashion_copy, overview.declare("accuracy", "Clothes of 7B"))  # as prepare --title writes it
    shutil.copytree(solution.parent, fashion_copy.with_name("fashion-copy.grader"))  # the key where serve looks
    monkeypatch.chdir(fashion_copy)
    graded = in_process(grade_main, "test_sample.csv", "--data", ".")
    assert graded.returncode == 0 and "public accuracy" in graded.stdout, graded.stderr
    server = Server(Path("."), db, "--daily-limit", "4")  # the corrected start, from inside the folder
    try:
        assert "<title>Leaderboard — Clothes of 7B</title>" in server.get("/").text, "prepare --title reaches the pages"
        assert server.get("/api/leaderboard").json()["competition"] == "Clothes of 7B"
        for size in (17 * 1024, 60 * 1024, 100 * 1024):  # one read or several: the promise is 16 KiB
            big = httpx.get(server.url + "/healthz", headers={"X-Big": "a" * size}, timeout=30)
            assert big.status_code == 431 and "over the limit of 16,384" in big.json()["error"], size
        assert httpx.get(server.url + "/healthz", headers={"X-Big": "a" * 12_000}, timeout=30).status_code == 200
        assert host(db, "set", "--title", "Class 7B").returncode == 0
        assert server.get("/api/leaderboard").json()["competition"] == "Class 7B", "the host's own title wins"
    finally:
        server.stop()
    assert re.search(r"--daily-limit\s+4", host(db, "set").stdout)


def write_roster(path: Path, rows: list[tuple[str, str]], header: str = "team,member") -> Path:
    path.write_text(header + "\n" + "".join(f"{t},{m}\n" for t, m in rows))
    return path


def read_tokens(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_a_class_of_thirty_in_ten_teams_uploads_at_once_and_each_team_gets_its_quota(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    students = [(f"team {t}", f"student {t}-{m}") for t in range(10) for m in range(3)]
    made = host(db, "add-teams", str(write_roster(tmp_path / "roster.csv", students)), "--out", str(tmp_path / "t.csv"))
    assert made.returncode == 0 and "30 member(s) in 10 team(s)" in made.stdout, made.stderr
    assert stat.S_IMODE((tmp_path / "t.csv").stat().st_mode) == 0o600
    tokens = read_tokens(tmp_path / "t.csv")
    assert [(r["team"], r["member"]) for r in tokens] == students and len({r["token"] for r in tokens}) == 30
    server = Server(fashion_small, db, "--daily-limit", "2")
    try:
        jobs = [(row, submission(key, wrong=n % 40, seed=n)) for n, row in enumerate(tokens)]
        with __import__("concurrent.futures").futures.ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(lambda job: server.upload(job[0]["token"], job[1]), jobs))
        listed = host(db, "teams")
    finally:
        server.stop()
    counted = {}
    for (row, _), answer in zip(jobs, answers):
        assert answer.status_code in (201, 429), answer.text
        counted.setdefault(row["team"], []).append(answer.status_code)
    assert all(sorted(codes) == [201, 201, 429] for codes in counted.values()), counted
    stored = [r for r in Store(db).submissions() if r["status"] == "ok"]
    assert len(stored) == 20 and {r["member"] for r in stored} <= {m for _, m in students}
    assert listed.returncode == 0 and re.search(r"team 3\s+student 3-0, student 3-1, student 3-2\s+2\s+2\s+0\s+0",
                                                listed.stdout)
    more = host(db, "add-teams", str(write_roster(tmp_path / "roster2.csv", students + [("team 10", "new one")])),
                "--out", str(tmp_path / "t2.csv"))
    assert more.returncode == 0 and [r["member"] for r in read_tokens(tmp_path / "t2.csv")] == ["new one"]


BAD_ROSTERS = {  # name -> (roster text, words of the error)
    "blank member": ("team,member\nants,ann\nbees,\n", "line 3: a blank member"),
    "blank line": ("team,member\nants,ann\n\nbees,bob\n", "line 3: a blank team"),
    "duplicate row": ("team,member\nants,ann\nbees,bob\nants,ann\n", "line 4: ants,ann repeats line 2"),
    "member in two teams": ("team,member\nants,ann\nbees,ann\n", "member 'ann' is in team 'ants' on line 2 too"),
    "no header": ("ants,ann\nbees,bob\n", "line 1: expected a header with columns team and member"),
    "no rows": ("team,member\n", "no rows under the header"),
    "not text": ("team,member\nants,\xe9\n", "not UTF-8"),
    "member already elsewhere": ("team,member\nbees,old\n", "member 'old' is in team 'ants' already"),
    "zero-width team": ("team,member\nants,ann\nAlpha\u200b,bob\n", "line 3: team name 'Alpha\\u200b': holds "
                                                                     "U+200B ZERO WIDTH SPACE"),
    "reversed member": ("team,member\nants,\u202eann\n", "line 2: member name '\\u202eann': holds U+202E "
                                                          "RIGHT-TO-LEFT OVERRIDE"),
}


@pytest.mark.parametrize("case", list(BAD_ROSTERS))
def test_a_bad_roster_is_refused_with_one_line_and_nothing_added(tmp_path, case):
    db = tmp_path / "grader.sqlite"
    Store(db).add_members([("ants", "old")])
    text, words = BAD_ROSTERS[case]
    roster = tmp_path / "roster.csv"
    roster.write_bytes(text.encode("latin-1") if case == "not text" else text.encode())
    refused(host(db, "add-teams", str(roster), "--out", str(tmp_path / "tokens.csv")), words)
    assert Store(db).members() == {"ants": ["old"]} and not (tmp_path / "tokens.csv").exists()


def test_the_tokens_file_shows_a_formula_name_and_never_runs_it(tmp_path):
    db = tmp_path / "grader.sqlite"
    roster = write_roster(tmp_path / "r.csv", [("=1+1", "@me"), ("-2+3", "ann")])
    assert host(db, "add-teams", str(roster), "--out", str(tmp_path / "t.csv")).returncode == 0
    rows = read_tokens(tmp_path / "t.csv")
    assert [(r["team"], r["member"]) for r in rows] == [("'=1+1", "'@me"), ("'-2+3", "ann")]
    assert sorted(Store(db).members()) == ["-2+3", "=1+1"], "stored as typed; only the file a spreadsheet opens differs"


def test_a_hidden_character_a_bare_end_now_and_a_deadline_out_of_range_are_refused_in_one_line(tmp_path):
    db = tmp_path / "grader.sqlite"
    refused(host(db, "add-team", "Alpha\u2066"), "team name 'Alpha\\u2066': holds U+2066 LEFT-TO-RIGHT ISOLATE")
    refused(host(db, "add-team", "Al\u00adpha"), "U+00AD SOFT HYPHEN")
    assert host(db, "add-team", "Zoë & 日本").returncode == 0 and Store(db).teams() == ["Zoë & 日本"]
    refused(host(db, "set", "--end-now"), "--end-now goes with a --deadline that has passed")
    for moment in ("9999-12-31T23:59Z", "0001-01-01T00:00Z", "9998-12-31T23:00-09:00"):
        refused(host(db, "set", "--deadline", moment, "--end-now"), "give a time between the years 1970 and 9998")
    assert "deadline" not in Store(db).settings()


def test_an_existing_tokens_file_is_never_replaced(tmp_path):
    db = tmp_path / "grader.sqlite"
    mine = tmp_path / "tokens.csv"
    mine.write_text("my own notes\n")
    refused(host(db, "add-teams", str(write_roster(tmp_path / "r.csv", [("ants", "ann")])), "--out", str(mine)),
            "exists already")
    assert mine.read_text() == "my own notes\n" and Store(db).members() == {}


def test_a_team_is_disabled_and_a_lost_token_replaced_on_a_running_server(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    made = {member: token for _, member, token in Store(db).add_members([("ants", "ann"), ("ants", "abe")])}
    server = Server(fashion_small, db)
    try:
        first = server.upload(made["ann"], submission(key, wrong=4, seed=4)).json()
        assert first["member"] == "ann" and first["rank"] == 1
        rotated = host(db, "rotate-token", "ants", "--member", "abe")
        new = rotated.stdout.strip().splitlines()[-1]
        assert rotated.returncode == 0 and server.upload(made["abe"], submission(key, wrong=5)).status_code == 401
        assert server.upload(new, submission(key, wrong=5)).json()["member"] == "abe"
        refused(host(db, "rotate-token", "ants"), "2 members (ann, abe): name one with --member")
        refused(host(db, "disable-team", "nobody"), "no team 'nobody'")
        assert host(db, "disable-team", "ants").returncode == 0
        blocked = server.upload(made["ann"], submission(key, wrong=6))
        assert blocked.status_code == 403 and "disabled" in blocked.json()["error"]
        assert pick(server, made["ann"], first["id"]).status_code == 403
        assert server.get("/api/leaderboard").json()["teams"][0]["disabled"] is True, "its entries stay, marked"
        assert host(db, "enable-team", "ants").returncode == 0
        assert server.upload(made["ann"], submission(key, wrong=6)).status_code == 201
    finally:
        server.stop()


def test_students_download_the_data_the_teacher_serves(fashion_small, tmp_path):
    db = tmp_path / "grader.sqlite"
    token = Store(db).add_team("ants")
    server = Server(fashion_small, db)
    client = ["download", "--url", server.url, "--token", token]  # python -m competition.upload ..., run here
    dead = leftover(tmp_path, "mine")  # what a download killed with kill -9 left: its work folder
    zipped = dead.with_name(dead.name + ".zip")  # and the zip it was fetching
    zipped.write_bytes(b"PK half a zip")
    try:
        assert server.get("/api/data").status_code == 401
        done = in_process(upload_main, *client, "--out", tmp_path / "mine")
        user = tmp_path / "busy"
        user.mkdir()
        (user / "notes.txt").write_text("mine")
        busy = in_process(upload_main, *client, "--out", user)
        raw = server.get("/api/data", token)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert not dead.exists() and not zipped.exists(), "the killed download's work folder and zip were swept"
    theirs, ours = load_competition(tmp_path / "mine", cache=False), load_competition(fashion_small, cache=False)
    assert theirs.fingerprint == ours.fingerprint and theirs.fingerprint[:16] in done.stdout
    names = zipfile.ZipFile(io.BytesIO(raw.content)).namelist()
    assert {"train.csv", "test_sample.csv", "classes.csv", "competition.json"} <= set(names)
    assert len(names) == 4 + 300 + 100
    assert not any("solution" in n or n.startswith(".") for n in names), "never the key or a cache"
    assert busy.returncode == 1 and "not empty" in busy.stderr and (user / "notes.txt").read_text() == "mine"
    assert raw.headers["content-type"] == "application/zip"
    assert __import__("hashlib").sha256(raw.content).hexdigest() == raw.headers["x-content-sha256"]


@pytest.mark.parametrize("graders", ["1", "2"])
def test_rescore_after_fixing_the_answer_key(fashion_small, key, tmp_path, graders):
    db = tmp_path / "grader.sqlite"
    token = Store(db).add_team("ants")
    data = submission(key, wrong=0)
    served_key = tmp_path / "key.csv"
    key.to_csv(served_key, index=False)
    server = Server(fashion_small, db, "--solution", str(served_key), "--graders", graders)
    try:
        first = server.upload(token, data).json()
        assert first["public"] == 1.0
        fixed = key.copy()
        public = fixed.index[fixed["Usage"] == "Public"][:5]
        fixed.loc[public, "class"] = [str((int(v) + 1) % 10) for v in fixed.loc[public, "class"]]
        broken = tmp_path / "broken.csv"
        broken.write_text("id,class,Usage\n1,2,Public\n")
        refused(host(db, "rescore", "--solution", str(broken)), str(broken))
        assert Store(db).submissions()[0]["public"] == 1.0, "a bad key changes nothing"
        if graders == "1":
            fixed.to_csv(tmp_path / "fixed.csv", index=False)
            done = host(db, "rescore", "--solution", str(tmp_path / "fixed.csv"))
        else:  # corrected in place, the same path: grading processes see the new key by its sha256
            fixed.to_csv(served_key, index=False)
            done = host(db, "rescore")
        assert done.returncode == 0 and "re-scored 1 submission(s)" in done.stdout and "1 changed" in done.stdout
        expected = public_score(fixed, data)
        mine = server.get("/api/submissions", token).json()["submissions"]
        assert mine[0]["public"] == pytest.approx(expected) and expected < 1.0
        second = server.upload(token, submission(key, wrong=3, seed=3)).json()
        assert second["public"] == pytest.approx(public_score(fixed, submission(key, wrong=3, seed=3))), \
            "the running server grades with the corrected key"
    finally:
        server.stop()


def test_an_ended_board_shows_the_public_share_of_the_key_in_force_after_a_rescore(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    token = Store(db).add_team("ants")
    key.to_csv(tmp_path / "key.csv", index=False)
    wider = key.copy()
    wider.loc[wider.index[wider["Usage"] == "Private"][:10], "Usage"] = "Public"  # a corrected split
    wider.to_csv(tmp_path / "wider.csv", index=False)
    server = Server(fashion_small, db, "--solution", str(tmp_path / "key.csv"))
    try:
        assert server.upload(token, submission(key, wrong=4)).status_code == 201
        before = server.get("/api/leaderboard").json()["public_rows"]
        assert (host(db, "reveal").returncode == 0
                and host(db, "rescore", "--solution", str(tmp_path / "wider.csv")).returncode == 0)
        board = server.get("/api/leaderboard").json()
        page = server.get("/").text
    finally:
        server.stop()
    assert board["ended"] and board["public_rows"] == before + 10 == (wider["Usage"] == "Public").sum()
    assert f"public: {before + 10} of {len(key)} test rows" in page


def test_late_uploads_are_scored_for_their_team_but_never_ranked_or_picked(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    token = Store(db).add_team("ants")
    server = Server(fashion_small, db)
    try:
        on_time = server.upload(token, submission(key, wrong=30, seed=1)).json()
        assert host(db, "reveal").returncode == 0
        closed = server.upload(token, submission(key, wrong=0))
        assert closed.status_code == 403 and "uploads are closed" in closed.json()["error"]
        assert host(db, "set", "--late", "on").returncode == 0
        late = server.upload(token, submission(key, wrong=0))
        assert late.status_code == 201 and late.json()["late"] is True and late.json()["rank"] is None
        assert late.json()["private"] == 1.0, "after the end a team sees its private score"
        assert pick(server, token, late.json()["id"]).status_code == 403
        line = server.get("/api/leaderboard").json()["teams"][0]
        assert line["public"] == on_time["public"] and line["submissions"] == 1
    finally:
        server.stop()


def test_every_error_is_json_and_an_answer_rank_is_the_teams(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    ants, bees = (Store(db).add_team(name) for name in ("ants", "bees"))
    server = Server(fashion_small, db)
    try:
        assert server.get("/nothing/here").json() == {"error": "no such page: /nothing/here"}
        wrong_method = server.get("/api/submissions/1/select", ants)
        assert wrong_method.status_code == 405 and "error" in wrong_method.json()
        bad_multipart = httpx.post(server.url + "/api/submissions", headers={
            **auth(ants), "Content-Type": "multipart/form-data; boundary=x"}, content=b"--x\r\nbroken", timeout=30)
        assert bad_multipart.status_code == 400 and set(bad_multipart.json()) == {"error"}
        best = submission(key, wrong=1, seed=1)
        assert server.upload(ants, best).json()["rank"] == 1
        assert server.upload(bees, submission(key, wrong=10, seed=2)).json()["rank"] == 2
        worse = server.upload(ants, submission(key, wrong=20, seed=3)).json()
        assert worse["rank"] == 1, "the team's rank on the board, not the file's"
        crlf = server.upload(ants, best.replace(b"\n", b"\r\n"), name="crlf.csv")
        bom = server.upload(ants, b"\xef\xbb\xbf" + best.replace(b"\n", b"\r\n"), name="bom.csv")
        assert crlf.status_code == bom.status_code == 200 and crlf.json()["duplicate"] and bom.json()["duplicate"]
        assert server.get("/api/submissions", ants).json()["submissions"][-1]["id"] == worse["id"]
    finally:
        server.stop()
    lines = [line for line in server.output().splitlines() if " upload " in line]
    assert len(lines) == 5 and all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ upload team='(ants|bees)'", line)
                                   for line in lines)
    assert "duplicate" in lines[-1] and ants not in server.output() and "private" not in server.output()


def exported_links(folder: Path) -> list[str]:
    text = (folder / "leaderboard.md").read_text()
    return re.findall(r"\]\(([^)\s]+)\)", text.replace("\\(", "").replace("\\)", ""))


def number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def md_column(text: str, column: str) -> list[str]:
    """The cells of ``column`` in every Markdown table of ``text`` that has it (escaped pipes kept)."""
    cells, at = [], None
    for line in text.splitlines():
        row = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] if line.startswith("|") else None
        if row is None:
            at = None
        elif at is None:
            at = row.index(column) if column in row else -1
        elif at >= 0 and not re.fullmatch(r":?-+:?", row[at]):  # not the line under the header
            cells.append(row[at])
    return cells


def test_export_is_the_class_result(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    names = ["ants | co", "[x](http://evil)", "<script>alert(1)</script>", "@SUM(A1)"]
    formulas = ['=HYPERLINK("http://evil","x")', "+1+2", "-2+3", "\tTAB"]  # a student's message, run by a spreadsheet
    tokens = {name: Store(db).add_team(name) for name in names}
    server = Server(fashion_small, db)
    try:
        ids = {}
        for n, name in enumerate(names):
            ids[name] = [server.upload(tokens[name], submission(key, wrong=w, seed=w + n), message=message).json()["id"]
                         for w, message in ((5 + n, "see [here](http://x) | <b>"), (40 - n, formulas[n]))]
        assert server.upload(tokens[names[0]], b"junk").status_code == 400
        assert pick(server, tokens[names[1]], ids[names[1]][1]).status_code == 200
        early = host(db, "export", "--out", str(tmp_path / "early"))
        assert early.returncode == 0 and "provisional" in early.stdout
        assert host(db, "reveal").returncode == 0
        board = server.get("/api/leaderboard").json()["teams"]
    finally:
        server.stop()
    private = [row["private"] for row in Store(db).submissions() if row["status"] == "ok"]
    assert len(private) == 8 and all(isinstance(value, float) for value in private)
    early_rows = pd.read_csv(tmp_path / "early" / "submissions.csv")
    assert len(early_rows) == 9 and early_rows["private"].isna().all(), "no private score before the end"
    early_md = (tmp_path / "early" / "leaderboard.md").read_text()
    assert len(md_column(early_md, "private")) == 4 + 9 and set(md_column(early_md, "private")) == {"hidden", ""}
    for value in private:  # as submissions.csv and leaderboard.md would write it (a whole number, not a part of one)
        written = re.compile(rf"(?<![\d.]){re.escape(repr(value))}(?!\d)")
        assert not written.search(early_md) and not written.search(early_rows.to_csv()), value
    standings = pd.read_csv(tmp_path / "early" / "standings.csv")
    assert set(standings["standing"]) == {"provisional"} and standings["private"].isna().all()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    refused(host(db, "export", "--out", str(mine)), "not empty (holds keep.txt)")
    assert [p.name for p in mine.iterdir()] == ["keep.txt"]
    done = host(db, "export", "--out", str(tmp_path / "result"))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "result"
    standings = pd.read_csv(out / "standings.csv", dtype={"picks": str})
    assert list(standings["team"]) == [("'" if line["team"][0] == "@" else "") + line["team"] for line in board]
    assert list(standings["private"]) == pytest.approx([line["private"] for line in board])
    assert list(standings["private"]) == sorted(standings["private"], reverse=True), "ranked by the final private score"
    assert standings.loc[standings["team"] == names[1], "picks"].item() == str(ids[names[1]][1])
    rows = pd.read_csv(out / "submissions.csv")
    assert len(rows) == 9 and (rows["status"] == "error").sum() == 1 and rows["private"].notna().sum() == 8
    assert {"'" + f for f in formulas} <= set(rows["message"]), "shown, never run"
    for path in (out / "submissions.csv", out / "standings.csv"):
        cells = [cell for row in csv.reader(io.StringIO(path.read_text())) for cell in row]
        assert not [c for c in cells
                    if c.startswith(("=", "+", "@", "\t", "\r")) or c.startswith("-") and not number(c)]
    text = (out / "leaderboard.md").read_text()
    assert "<script>" not in text and "](http://evil)" not in text and "](http://x)" not in text
    assert text.count("\n| ") >= 4 + 9 and "ants \\| co" in text
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    for link in exported_links(out):
        assert (link[1:] in anchors) if link.startswith("#") else (out / link).is_file(), link
    assert len(list((out / "files").glob("*.csv"))) == 8 and len(exported_links(out)) >= 8 + 4 + 1
    with Image.open(out / "leaderboard.png") as picture:
        assert picture.format == "PNG" and picture.size[0] >= 600


def test_an_export_missing_a_kept_file_writes_nothing(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    token = Store(db).add_team("ants")
    server = Server(fashion_small, db)
    try:
        data = submission(key, wrong=3)
        assert server.upload(token, data).status_code == 201
    finally:
        server.stop()
    (db.with_name(db.name + ".files") / f"{__import__('hashlib').sha256(data).hexdigest()}.csv").unlink()
    refused(host(db, "export", "--out", str(tmp_path / "out")), "kept file is missing")
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def probabilities(key: pd.DataFrame, confidence: float, classes: list[str]) -> bytes:
    """A probability submission: ``confidence`` on the true class, the rest spread evenly."""
    rest = (1 - confidence) / (len(classes) - 1)
    rows = {c: [confidence if truth == c else rest for truth in key["class"]] for c in classes}
    return pd.DataFrame({"id": key["id"], **rows}).to_csv(index=False).encode()


def test_a_log_loss_competition_ranks_ascending_on_the_board_and_in_the_export(tmp_path):
    from competition.prepare.fashion import prepare

    data = prepare(tmp_path / "logloss", limit_train=200, limit_test=60, seed=5, metric="log_loss")
    key = pd.read_csv(tmp_path / "logloss.grader" / "solution.csv", dtype=str)
    classes = [c for c in pd.read_csv(data / "test_sample.csv", nrows=0).columns if c != "id"]
    db = tmp_path / "grader.sqlite"
    sure, unsure = (Store(db).add_team(name) for name in ("sure", "unsure"))
    server = Server(data, db)
    try:
        assert server.upload(unsure, probabilities(key, 0.5, classes)).json()["rank"] == 1
        answer = server.upload(sure, probabilities(key, 0.9, classes)).json()
        assert answer["rank"] == 1 and answer["public"] == pytest.approx(-math.log(0.9))
        board = server.get("/api/leaderboard").json()
        assert board["metric"] == "log_loss" and [entry["team"] for entry in board["teams"]] == ["sure", "unsure"]
        assert host(db, "reveal").returncode == 0
        assert [entry["team"] for entry in server.get("/api/leaderboard").json()["teams"]] == ["sure", "unsure"]
    finally:
        server.stop()
    assert host(db, "export", "--out", str(tmp_path / "out")).returncode == 0
    assert list(pd.read_csv(tmp_path / "out" / "standings.csv")["team"]) == ["sure", "unsure"]
    assert "Scores are log\\_loss." in (tmp_path / "out" / "leaderboard.md").read_text()


def test_the_board_turns_final_when_the_deadline_passes_with_nothing_written(fashion_small, key, tmp_path, monkeypatch):
    """Boards are read again only when the database changes, or when the end comes: a deadline
    that passes in silence still turns a projector's board final (private scores, in order)."""
    from starlette.testclient import TestClient

    from competition.server.app import Settings, create_app

    deadline = clock.now() + timedelta(hours=1)
    db = tmp_path / "grader.sqlite"
    tokens = {team: Store(db).add_team(team) for team in ("ants", "bees")}
    client = TestClient(create_app(Settings(data=fashion_small, db=db, flags={"deadline": deadline})))
    for team, wrong in (("ants", 2), ("bees", 6)):
        answer = client.post("/api/submissions", headers={"Authorization": f"Bearer {tokens[team]}"},
                             files={"file": ("sub.csv", submission(key, wrong=wrong, seed=wrong), "text/csv")})
        assert answer.status_code == 201, answer.text
    before = client.get("/api/leaderboard").json()
    assert [line["team"] for line in before["teams"]] == ["ants", "bees"], "each upload shows at once"
    assert not before["ended"] and all(line.get("private") is None for line in before["teams"])
    monkeypatch.setattr(clock, "now", lambda: deadline + timedelta(seconds=1))
    after = client.get("/api/leaderboard").json()
    assert after["ended"] and all(line["private"] is not None for line in after["teams"]), after
