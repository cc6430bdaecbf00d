"""The grader server, for real: uvicorn on 127.0.0.1 and a free port, HTTP from outside, restarts."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

from competition import wire
from competition.server.store import Store
from tests.helpers import Server, chromium, host, public_score, submission

pytestmark = pytest.mark.usefixtures("clear_of_midnight")  # quotas follow the real UTC day


@pytest.fixture(scope="module")
def grader(served):
    """A server with four teams (one named in HTML, one in SQL), daily limit 3, 2 final picks,
    16 failed uploads a day, bodies up to 64 KiB."""
    return served(["ants", "bees", "<b>cats</b>", "x'); DROP TABLE teams;--"], "--daily-limit", "3",
                  "--final-picks", "2", "--failed-limit", "16", "--max-bytes", str(64 * 1024))


def test_an_upload_is_scored_with_its_quota_and_reset_time(grader, key):
    server, tokens = grader
    token = server.team("perfect")
    data = submission(key, wrong=0, seed=1)
    done = server.upload(token, data, name="first.csv", message="hello")
    assert done.status_code == 201, done.text
    answer = done.json()
    assert answer["public"] == pytest.approx(public_score(key, data)) and answer["rank"] == 1
    assert answer["submissions_left_today"] == 2 and answer["resets_at"].endswith("T00:00:00Z")
    assert "private" not in answer and answer["name"] == "first.csv" and answer["message"] == "hello"
    again = server.upload(token, data, name="again.csv")
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["id"] == answer["id"]
    assert again.json()["submissions_left_today"] == 2, "a duplicate costs no quota"
    picked = httpx.post(server.url + wire.SELECT.format(submission=answer["id"]), timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
    assert [wire.lacking(answer, {**wire.UPLOADED, **wire.RANKED}), wire.lacking(picked.json(), wire.PICKED),
            wire.lacking(server.get(wire.SUBMISSIONS, token).json(), wire.LISTED),
            wire.lacking(server.get(wire.LEADERBOARD).json(), wire.BOARD)] == [[]] * 4, "the client's contract holds"


def sample_text(key):
    return "id,class\n" + "".join(f"{i},0\n" for i in key["id"])


BAD = {  # name -> (body maker from the key, expected status, words of the error)
    "empty file": (lambda k: b"", 400, "empty file"),
    "binary": (lambda k: bytes(range(256)) * 4, 400, "not UTF-8"),
    "zip": (lambda k: b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(200, 256)) * 8, 400, "not UTF-8"),
    "wrong header": (lambda k: sample_text(k).replace("id,class", "id,label").encode(), 400,
                     "expected columns id,class"),
    "duplicate id": (lambda k: (sample_text(k) + f"{k['id'][0]},0\n").encode(), 400, "duplicated id"),
    "missing ids": (lambda k: "\n".join(sample_text(k).splitlines()[:50]).encode(), 400,
                    "of the sample submission missing"),
    "unknown id": (lambda k: sample_text(k).replace(f"\n{k['id'][3]},", "\nnope,", 1).encode(), 400,
                   "not in the sample"),
    "NaN": (lambda k: sample_text(k).replace(f"\n{k['id'][5]},0", f"\n{k['id'][5]},NaN").encode(), 400,
            "empty or NaN"),
    "unknown class": (lambda k: sample_text(k).replace(f"\n{k['id'][5]},0", f"\n{k['id'][5]},11").encode(), 400,
                      "'11' in column 'class' is not a class"),
    "label 2.0": (lambda k: sample_text(k).replace(f"\n{k['id'][5]},0", f"\n{k['id'][5]},2.0").encode(), 400,
                  "'2.0' in column 'class' is not a class"),
    "html instead of csv": (lambda k: b"<html><body>hi</body></html>", 400, "expected columns"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_refused_with_the_validators_message(grader, key, case):
    server, tokens = grader
    make, status, words = BAD[case]
    done = server.upload(tokens["bees"], make(key), name="bad.csv")
    assert done.status_code == status and words in done.json()["error"], done.text
    assert done.json()["submissions_left_today"] == 3, "a failed upload costs no quota"


def test_tokens_are_required_and_checked(grader, key):
    server, tokens = grader
    data = submission(key, wrong=3)
    assert server.upload(None, data).status_code == 401
    assert server.upload("not-a-token", data).json() == {
        "error": "missing or invalid token (send Authorization: Bearer TOKEN)"}
    basic = httpx.post(server.url + "/api/submissions", headers={"Authorization": f"Basic {tokens['ants']}"},
                       files={"file": ("a.csv", data)}, timeout=30)
    assert basic.status_code == 401
    assert server.get("/api/submissions").status_code == 401 and server.get("/api/submissions", "x").status_code == 401


def test_malformed_requests_are_400_with_an_error(grader, key):
    server, tokens = grader
    headers = {"Authorization": f"Bearer {tokens['bees']}"}
    no_file = httpx.post(server.url + "/api/submissions", headers=headers, data={"message": "x"}, timeout=30)
    assert no_file.status_code == 400 and "file" in no_file.json()["error"]
    long = server.upload(tokens["bees"], submission(key, wrong=1), message="m" * 501)
    assert long.status_code == 400 and "over the limit of 500" in long.json()["error"]
    longest = server.upload(server.team("longest"), submission(key, wrong=2), message="é" * 500)  # exactly the limit
    assert longest.status_code == 201 and longest.json()["message"] == "é" * 500, longest.text
    not_int = httpx.post(server.url + "/api/submissions/abc/select", headers=headers, timeout=30)
    assert not_int.status_code == 400 and "error" in not_int.json()


def test_bodies_over_the_limit_are_refused_while_read(grader):
    server, tokens = grader
    declared = server.upload(tokens["bees"], b"id,class\n" + b"1,1\n" * 20_000)
    assert declared.status_code == 413 and "over the limit of 65,536 bytes" in declared.json()["error"]

    def chunks():  # no Content-Length: a valid multipart file part that grows, counted as it streams
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nid,class\n'
        for _ in range(100):
            yield b"1,1\n" * 1024

    streamed = httpx.post(server.url + "/api/submissions", headers={"Authorization": f"Bearer {tokens['bees']}",
                                                                     "Content-Type": "multipart/form-data; boundary=b"},
                          content=chunks(), timeout=30)
    assert streamed.status_code == 413
    assert server.get("/healthz").json() == {"status": "ok"}


def test_path_like_file_names_are_plain_names(grader, key, tmp_path):
    server, tokens = grader
    data = submission(key, wrong=7, seed=7)
    done = server.upload(server.team("paths"), data, name="../../../../tmp/evil.csv")
    assert done.status_code == 201 and done.json()["name"] == "evil.csv"
    kept = server.db.with_name(server.db.name + ".files")
    assert (kept / f"{hashlib.sha256(data).hexdigest()}.csv").read_bytes() == data, "kept by its sha256 alone"
    assert all(len(p.stem) == 64 for p in kept.glob("*.csv")), "no upload's own name reaches the disk"


def test_html_and_sql_in_names_and_messages_are_inert(grader, key):
    server, tokens = grader
    message = "<img src=x onerror=alert(1)>'); DELETE FROM submissions;--"
    for team in ("<b>cats</b>", "x'); DROP TABLE teams;--"):
        assert server.upload(tokens[team], submission(key, wrong=20, seed=3), message=message).status_code == 201
    mine = server.get("/api/submissions", tokens["<b>cats</b>"]).json()
    assert mine["team"] == "<b>cats</b>" and mine["submissions"][-1]["message"] == message
    page = server.get("/").text
    assert "&lt;b&gt;cats&lt;/b&gt;" in page and "<b>cats</b>" not in page and "<img" not in page
    with sqlite3.connect(server.db) as db:
        assert set(tokens) <= {row[0] for row in db.execute("SELECT name FROM teams")}
        assert db.execute("SELECT COUNT(*) FROM submissions WHERE message = ?", (message,)).fetchone()[0] == 2


def test_final_picks_are_own_counted_submissions_up_to_the_limit(grader, key):
    server, tokens = grader
    token = server.team("pickers")
    assert server.upload(token, b"junk").status_code == 400  # first: at its daily limit a team's uploads are refused
    ids = [server.upload(token, submission(key, wrong=w, seed=w)).json()["id"] for w in (11, 12, 13)]
    bees = {"Authorization": f"Bearer {token}"}
    ants = {"Authorization": f"Bearer {tokens['ants']}"}
    post = lambda i, h: httpx.post(f"{server.url}/api/submissions/{i}/select", headers=h, timeout=30)  # noqa: E731
    assert post(ids[0], ants).status_code == 404 and "no submission" in post(ids[0], ants).json()["error"]
    assert post(99999, bees).status_code == 404
    failed = [s["id"] for s in server.get("/api/submissions", token).json()["submissions"] if s["status"] == "error"]
    assert post(failed[0], bees).status_code == 409
    own = [s["id"] for s in server.get("/api/submissions", token).json()["submissions"] if s["status"] == "ok"]
    assert own == ids
    assert post(own[0], bees).json()["selected"] is True and post(own[1], bees).status_code == 200
    third = post(own[2], bees)
    assert third.status_code == 409 and "2 final picks already" in third.json()["error"]
    assert httpx.delete(f"{server.url}/api/submissions/{own[1]}/select", headers=bees,
                        timeout=30).json()["selected"] is False
    assert post(own[2], bees).status_code == 200


def test_the_daily_limit_holds_and_says_when_it_resets(grader, key):
    server, tokens = grader
    token = server.team("quota")
    answers = [server.upload(token, submission(key, wrong=30 + n, seed=30 + n)) for n in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert [a.json()["submissions_left_today"] for a in answers] == [2, 1, 0, 0]
    refused = answers[-1].json()
    assert "daily limit of 3 graded submissions reached; the limit resets at" in refused["error"]
    assert refused["resets_at"].endswith("T00:00:00Z") and refused["submissions_left_today"] == 0


def test_failed_uploads_are_capped_too(grader):
    server, tokens = grader
    token = server.team("failing")
    statuses = [server.upload(token, b"junk").status_code for _ in range(17)]
    assert statuses == [400] * 16 + [429]


def test_nothing_private_leaves_the_server_before_the_reveal(grader, fashion_small):
    server, tokens = grader
    key_text = (fashion_small.with_name(fashion_small.name + ".grader") / "solution.csv").read_text()
    responses = [server.get(path, token) for path, token in [
        ("/", None), ("/submit", None), ("/api/leaderboard", None), ("/api/submissions", tokens["ants"]),
        ("/solution.csv", None), ("/data/solution.csv", None), (f"/{fashion_small.name}.grader/solution.csv", None),
        ("/..%2f..%2fsolution.csv", None), ("/docs", None), ("/openapi.json", None), ("/grader.sqlite", None),
        (f"/grader.sqlite.files/{'0' * 64}.csv", None)]]
    assert [r.status_code for r in responses[:4]] == [200] * 4 and all(r.status_code == 404 for r in responses[4:])
    for response in responses:
        assert "private" not in response.text.replace("Private scores are hidden", "")
        assert key_text.splitlines()[1] not in response.text


def test_two_hundred_concurrent_uploads_from_twenty_teams(fashion_small, key, tmp_path):
    store = Store(tmp_path / "grader.sqlite")
    tokens = [store.add_team(f"team{n:02d}") for n in range(20)]
    server = Server(fashion_small, tmp_path / "grader.sqlite", "--daily-limit", "5")
    try:
        jobs = [(t, submission(key, wrong=n % 40, seed=n)) for n in range(10) for t in tokens]
        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(lambda job: server.upload(*job), jobs))
    finally:
        server.stop()
    assert sorted({a.status_code for a in answers}) == [201, 429]
    rows = Store(tmp_path / "grader.sqlite").submissions()
    assert len(rows) == 100 and len({(r["team"], r["sha256"]) for r in rows}) == 100, "none lost or duplicated"
    per_team = {}
    for row in rows:
        per_team[row["team"]] = per_team.get(row["team"], 0) + 1
    assert set(per_team.values()) == {5}, "every quota exact"
    accepted = [a.json() for a in answers if a.status_code == 201]
    assert sorted(a["id"] for a in accepted) == sorted(r["id"] for r in rows)


def test_a_restart_keeps_everything_and_the_reveal_shows_picks(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    tokens = {name: Store(db).add_team(name) for name in ("ants", "bees")}
    server = Server(fashion_small, db, "--daily-limit", "3")
    ids = [server.upload(tokens["bees"], submission(key, wrong=w, seed=w)).json()["id"] for w in (5, 9)]
    assert server.upload(tokens["ants"], submission(key, wrong=2, seed=2)).status_code == 201
    assert httpx.post(f"{server.url}/api/submissions/{ids[1]}/select", timeout=30,
                      headers={"Authorization": f"Bearer {tokens['bees']}"}).status_code == 200
    before = {path: server.get(path, tokens["bees"]).json() for path in ("/api/leaderboard", "/api/submissions")}
    server.stop()
    again = Server(fashion_small, db)
    try:
        after = {path: again.get(path, tokens["bees"]).json() for path in ("/api/leaderboard", "/api/submissions")}
        assert after == before
        revealed = host(db, "reveal")
        assert revealed.returncode == 0, revealed.stderr
        board = again.get("/api/leaderboard").json()
        assert board["revealed"] and all("private" in line for line in board["teams"])
        bees = next(line for line in board["teams"] if line["team"] == "bees")
        mine = again.get("/api/submissions", tokens["bees"]).json()["submissions"]
        assert bees["picks"] == [ids[1]] and bees["private"] == next(s["private"] for s in mine if s["id"] == ids[1])
        closed = again.upload(tokens["ants"], submission(key, wrong=90, seed=90))
        assert closed.status_code == 403 and "uploads are closed" in closed.json()["error"]
    finally:
        again.stop()


def test_a_browser_uploads_and_sees_its_score_and_the_teams_in_order(fashion_small, key, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    store = Store(tmp_path / "grader.sqlite")
    tokens = {name: store.add_team(name) for name in ("owls", "larks")}
    server = Server(fashion_small, tmp_path / "grader.sqlite")
    driver = chromium()
    try:
        assert server.upload(tokens["owls"], submission(key, wrong=25, seed=1)).status_code == 201  # a rival first
        mine = tmp_path / "mine.csv"
        mine.write_bytes(submission(key, wrong=2, seed=2))
        driver.get(server.url + "/submit")
        driver.find_element(By.ID, "token").send_keys(tokens["larks"])
        driver.find_element(By.ID, "file").send_keys(str(mine))
        driver.find_element(By.ID, "message").send_keys("from a browser")
        driver.find_element(By.ID, "send").click()
        result = WebDriverWait(driver, 60).until(
            lambda d: (text := d.find_element(By.ID, "result").text) not in ("", "uploading…") and text)
        assert (f"Scored: public {public_score(key, mine.read_bytes()):.4f}, rank 1; "
                "4 submission(s) left today") in result
        driver.get(server.url + "/")
        assert [cell.text
                for cell in driver.find_elements(By.CSS_SELECTOR, "#leaderboard td.team")] == ["larks", "owls"]
        driver.save_screenshot(str(tmp_path / "leaderboard.png"))
    finally:
        driver.quit()
        server.stop()
    picture = np.asarray(Image.open(tmp_path / "leaderboard.png").convert("L"))
    assert picture.shape[0] >= 600 and picture.std() > 5, "the screenshot shows a page"
    if os.environ.get("SCREENSHOTS"):  # a folder to keep the screenshot in, for a person to look at
        shutil.copy(tmp_path / "leaderboard.png", os.environ["SCREENSHOTS"])
