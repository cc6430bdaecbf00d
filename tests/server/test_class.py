"""The class result a teacher grades from, and the host's record: a gradebook with every roster
member, picks told from fallbacks, ties marked, one submission voided (never ranked, the reason
exported), alike submissions of different teams listed, and what the host did in the journal.
The uploads go through the grading core into a real store; the host's commands run as processes."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pandas as pd
import pytest

from competition import clock

from competition.grade.grader import Grader
from competition.server import sameness
from competition.server.store import Store
from tests.helpers import host, submission

pytestmark = pytest.mark.usefixtures("clear_of_midnight")  # quotas follow the real UTC day


def changed(data: bytes, rows: list[int]) -> bytes:
    """``data`` with the label of each of ``rows`` moved to the next class."""
    table = pd.read_csv(io.BytesIO(data), dtype=str)
    table.loc[rows, "class"] = [str((int(v) + 1) % 10) for v in table.loc[rows, "class"]]
    return table.to_csv(index=False).encode()


def read(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_export_a_teacher_grades_from(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    store = Store(db)
    roster = [("Owls", "ana"), ("Owls", "ben"), ("Owls", "idle"), ("Larks", "cho"), ("Wrens", "dee"),
              ("Wrens", "eve"), ("Crows", "fay"), ("Gulls", "gus")]
    store.add_members(roster)
    grader = Grader(fashion_small)
    shared = submission(key, wrong=30, seed=1)
    uploads = [("Owls", "ana", shared), ("Owls", "ben", submission(key, wrong=10, seed=2)),
               ("Larks", "cho", shared),  # byte-identical to Owls' first: planted
               ("Wrens", "dee", changed(shared, [0])),  # one row of a hundred apart from it: planted
               ("Wrens", "eve", submission(key, wrong=45, seed=4)),
               ("Crows", "fay", submission(key, wrong=60, seed=5)),
               ("Crows", "fay", submission(key, wrong=5, seed=6))]  # Crows' best: voided below
    ids = [grader.grade(data, store, team=team, file=f"{member}.csv", name=f"{member}.csv",
                        extra={"member": member, "late": False})["id"] for team, member, data in uploads]
    grader.grade(b"junk", store, team="Gulls", file="bad.csv", name="bad.csv", extra={"member": "gus", "late": False})
    assert store.select("Owls", ids[0], True, 2)  # Owls pick their worse one: picked, not fallback

    assert host(db, "void", str(ids[6]), "--reason", "  copied the key ").returncode == 0
    refused = host(db, "void", "999", "--reason", "x")
    assert refused.returncode == 1 and "no submission 999" in refused.stderr
    assert host(db, "set", "--daily-limit", "7").returncode == 0
    assert host(db, "reveal").returncode == 0
    assert host(db, "export", "--out", str(tmp_path / "out")).returncode == 0
    out = tmp_path / "out"

    book = read(out / "gradebook.csv")
    assert sorted((r["team"], r["student"]) for r in book) == sorted(roster), "exactly one row per roster member"
    by = {r["student"]: r for r in book}
    assert by["idle"]["member_submissions"] == "0" and by["idle"]["team_submissions"] == "2"
    assert "made no scored submission" in by["idle"]["note"] and by["ana"]["note"] == ""
    assert by["gus"]["standing"] == "unranked" and "no scored submission" in by["gus"]["note"]
    assert by["ana"]["picks"] == "picked" and by["cho"]["picks"] == "fallback"
    assert by["ana"]["rank"] == by["ben"]["rank"] and by["ana"]["score"] == by["idle"]["score"]
    assert {by["ana"]["tier"], by["ana"]["private_low"]} == {""}, "no interval here: the cells stay empty"

    standings = {r["team"]: r for r in read(out / "standings.csv")}
    assert standings["Owls"]["picks_kind"] == "picked" and standings["Owls"]["picks"] == str(ids[0])
    assert standings["Larks"]["picks_kind"] == "fallback" and standings["Larks"]["picks"] == str(ids[2])
    assert standings["Crows"]["picks"] == str(ids[5]), "the voided submission is never ranked nor a fallback"
    assert standings["Owls"]["tied"] == standings["Larks"]["tied"] == "True", "the same file, the same score"
    assert standings["Wrens"]["tied"] == "False"
    submitted = {int(r["id"]): r for r in read(out / "submissions.csv")}
    assert submitted[ids[6]]["voided"] == "True" and submitted[ids[6]]["void_reason"] == "copied the key"
    board = (out / "leaderboard.md").read_text()
    assert "voided by the host: copied the key" in board and "equal scores are marked" in board
    assert "| = " in board and "| fallback |" in board

    pairs = read(out / "sameness.csv")
    assert {(int(p["first"]), int(p["second"])) for p in pairs} == {(ids[0], ids[2]), (ids[0], ids[3]),
                                                                    (ids[2], ids[3])}
    assert [p["identical"] for p in pairs if int(p["second"]) == ids[2]] == ["True"]
    assert {p["agreement"] for p in pairs} == {"1.0", "0.99"}

    journal = Store(db).journal()
    assert [line["action"] for line in journal] == ["reveal", "set", "void"]
    assert "--daily-limit 7" in journal[1]["detail"] and "copied the key" in journal[2]["detail"]


def test_sameness_is_exactly_the_planted_pairs_from_different_teams(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    rng = pd.Series(range(400)).sample(frac=1, random_state=0).to_numpy() % 7
    base = pd.DataFrame({"id": range(400), "class": rng})

    def kept(name: str, table: pd.DataFrame) -> dict:
        (files / f"{name}.csv").write_text(table.to_csv(index=False))
        return {"sha256": name, "digest": table.sort_values("id").to_csv(index=False)}  # the predictions' own

    def moved(rows) -> pd.DataFrame:
        table = base.copy()
        table.loc[rows, "class"] = (table.loc[rows, "class"] + 1) % 7
        return table

    rows = [{"id": 1, "team": "a", "status": "ok", **kept("base", base)},
            {"id": 2, "team": "b", "status": "ok", **kept("base", base)},  # identical to 1
            {"id": 3, "team": "a", "status": "ok", **kept("near", moved(range(5)))},  # same team as 1: not listed
            {"id": 4, "team": "c", "status": "ok", **kept("far", moved(range(0, 400, 3)))},
            {"id": 5, "team": "d", "status": "error", "sha256": "missing"},
            {"id": 6, "team": "d", "status": "ok", **kept("shuffled", base.sample(frac=1, random_state=1))},
            {"id": 7, "team": "e", "status": "ok", **kept("close", moved(range(20)))}]  # 95-96%: not nearly every row
    found = sameness.pairs(rows, files)
    assert [(p["first"], p["second"], p["agreement"], p["identical"]) for p in found] == [
        (1, 2, 1.0, True), (1, 6, 1.0, True), (2, 6, 1.0, True), (2, 3, 0.9875, False), (3, 6, 0.9875, False)]


def test_the_journal_a_voided_submission_and_a_bare_restart_on_a_real_server(fashion_small, key, tmp_path):
    import subprocess
    import sys
    import time

    import httpx

    from tests.helpers import Server, free_port

    db = tmp_path / "grader.sqlite"
    store = Store(db)
    ants, bees = store.add_team("ants"), store.add_team("bees")
    server = Server(fashion_small, db, "--daily-limit", "1", "--deadline", clock.iso(clock.now() + timedelta(days=400)))
    try:
        assert server.output().splitlines()[0].startswith(f"a new competition for {fashion_small}: its teams are in")
        first = server.upload(ants, submission(key, wrong=3)).json()
        assert server.upload(ants, submission(key, wrong=4)).status_code == 429
        assert server.upload(bees, submission(key, wrong=9)).status_code == 201
        for command in (["void", str(first["id"]), "--reason", "the same file as team bees"],
                        ["disable-team", "bees"], ["enable-team", "bees"], ["rotate-token", "bees"]):
            done = host(db, *command)
            assert done.returncode == 0, command
        bees_new = done.stdout.strip().splitlines()[-1]
        mine = server.get("/api/submissions", ants).json()["submissions"]
        assert mine[0]["void_reason"] == "the same file as team bees", "the team sees why"
        assert [t["team"] for t in server.get("/api/leaderboard").json()["teams"]] == ["bees"], "never ranked"
        picked = httpx.post(f"{server.url}/api/submissions/{first['id']}/select",
                            headers={"Authorization": f"Bearer {ants}"})
        assert picked.status_code == 409 and "voided" in picked.json()["error"], "never picked"
        wrong = httpx.post(f"{server.url}/data/download", data={"token": "not-a-token", "what": "zip"},
                           headers={"Accept": "text/html"})
        assert wrong.status_code == 401 and "type the token" in wrong.text and wrong.headers["content-type"].startswith(
            "text/html"), "a browser's form gets a page, and no data without a token"
        sample = httpx.post(f"{server.url}/data/download", data={"token": bees_new, "what": "sample"})
        assert sample.status_code == 200 and sample.content == (fashion_small / "test_sample.csv").read_bytes()
        assert host(db, "reveal").returncode == 0
        assert server.upload(ants, submission(key, wrong=5)).status_code == 403
        admin = host(db, "admin-token").stdout.strip().splitlines()[-1]
        seen = server.get("/api/admin", admin).json()
    finally:
        server.stop()
    actions = [(line["action"], line["detail"]) for line in reversed(seen["journal"])]
    assert [action for action, _ in actions] == ["refused", "void", "disable-team", "enable-team", "rotate-token",
                                                 "reveal", "refused", "admin-token"]
    assert "daily limit" in actions[0][1] and "after the end" in actions[6][1] and "'ants'" in actions[6][1]
    assert all(line["time"].endswith("Z") for line in seen["journal"])
    assert [s["void_reason"] for s in seen["submissions"]][0] == "the same file as team bees"

    port = free_port()  # a bare restart: no --data, no flags; the stored folder and settings
    log = tmp_path / "restart.log"
    with open(log, "w") as out:
        again = subprocess.Popen([sys.executable, "-m", "competition.server", "serve", "--db", str(db), "--port",
                                  str(port), "--graders", "1"], stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/leaderboard", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert again.poll() is None, log.read_text()
                time.sleep(0.1)
        board = httpx.get(f"http://127.0.0.1:{port}/api/leaderboard", timeout=30).json()
    finally:
        again.terminate()
        again.wait(timeout=30)
    assert log.read_text().splitlines()[0].startswith(f"restarting the competition kept in {db}")
    assert board["ended"] and [t["team"] for t in board["teams"]] == ["bees"]
