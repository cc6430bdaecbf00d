"""The answer key a grader server scores with is its own, and what a quota refuses costs no grading:
a real server, the host's commands in other processes, uploads arriving during a rescore."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from competition.server.store import Store
from tests.helpers import Server, grading_processes, host, public_score, submission

pytestmark = pytest.mark.usefixtures("clear_of_midnight")  # quotas follow the real UTC day


def corrected(key, rows: int = 10):
    """The key with ``rows`` public labels changed (a host's correction)."""
    fixed = key.copy()
    public = fixed.index[fixed["Usage"] == "Public"][:rows]
    fixed.loc[public, "class"] = [str((int(v) + 1) % 10) for v in fixed.loc[public, "class"]]
    return fixed


def test_rescore_owns_the_corrected_key_and_an_upload_graded_during_it_ends_scored_by_it(fashion_small, key, tmp_path):
    """An upload held in a (stopped) grading process while ``rescore`` commits is graded again with the
    corrected key; the host's files may then go; a restart grades with the grader's own copy."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: no grading processes")
    db = tmp_path / "grader.sqlite"
    tokens = [Store(db).add_team(name) for name in ("ants", "bees")]
    served = tmp_path / "key.csv"
    key.to_csv(served, index=False)
    server = Server(fashion_small, db, "--solution", str(served), graders="2")
    stopped = []
    try:
        owned = list(db.with_name("grader.sqlite.keys").iterdir())
        assert [path.name for path in owned] == [hashlib.sha256(served.read_bytes()).hexdigest() + ".csv"]
        assert stat.S_IMODE(owned[0].stat().st_mode) == 0o600 and Store(db).setting("key_sha256") in owned[0].name
        before = submission(key, wrong=1)
        assert server.upload(tokens[0], before).json()["public"] == pytest.approx(public_score(key, before))
        fixed, fixed_path = corrected(key), tmp_path / "fixed.csv"
        fixed.to_csv(fixed_path, index=False)
        during = submission(key, wrong=2, seed=2)
        stopped = grading_processes(server)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        with ThreadPoolExecutor(1) as pool:
            upload = pool.submit(server.upload, tokens[1], during)  # graded with the old key, held there
            time.sleep(1)
            done = host(db, "rescore", "--solution", str(fixed_path))
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
            stopped = []
            answer = upload.result()
        assert done.returncode == 0 and "re-scored 1 submission(s)" in done.stdout, done.stdout + done.stderr
        assert answer.status_code == 201 and answer.json()["public"] == pytest.approx(public_score(fixed, during))
        fixed_path.unlink()  # the host tidies up: the grader owns its copy
        served.unlink()
        after = submission(key, wrong=9, seed=99)
        answer = server.upload(tokens[0], after)
        assert answer.status_code == 201 and answer.json()["public"] == pytest.approx(public_score(fixed, after))
        rows = Store(db).submissions()
        assert len(rows) == 3
        for row in rows:  # every row scored by the key in force
            kept = (db.with_name("grader.sqlite.files") / f"{row['sha256']}.csv").read_bytes()
            assert row["public"] == pytest.approx(public_score(fixed, kept)), row["id"]
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        server.stop()
    server = Server(fashion_small, db, "--solution", str(served))  # restarted as before: that file is gone
    try:
        again = submission(key, wrong=11, seed=100)
        answer = server.upload(tokens[1], again)
        assert answer.status_code == 201 and answer.json()["public"] == pytest.approx(public_score(fixed, again))
        assert "grading with the grader's own copy of the key in force" in server.output()
    finally:
        server.stop()


def test_a_key_the_grader_cannot_read_answers_json_a_student_can_act_on(fashion_small, key, tmp_path):
    """The worst case: the grader's own copy is removed too after a rescore; the upload is refused as
    JSON (503, try again later), never a plain-text 500. Before that, on the same server, a submission
    number beyond any integer is a JSON 404 too."""
    db = tmp_path / "grader.sqlite"
    token = Store(db).add_team("ants")
    server = Server(fashion_small, db)
    try:
        answer = httpx.post(f"{server.url}/api/submissions/99999999999999999999999/select",
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code == 404 and "no submission" in answer.json()["error"], answer.text
        fixed_path = tmp_path / "fixed.csv"
        corrected(key).to_csv(fixed_path, index=False)
        assert host(db, "rescore", "--solution", str(fixed_path)).returncode == 0
        for path in db.with_name("grader.sqlite.keys").iterdir():
            path.unlink()
        answer = server.upload(token, submission(key, wrong=3))
        assert answer.status_code == 503 and "answer key" in answer.json()["error"], answer.text
        assert Store(db).submissions() == []
    finally:
        server.stop()


def test_an_upload_over_the_quota_is_refused_before_any_grading(fashion_small, key, tmp_path):
    """With every grading process stopped, an upload that reached grading would wait; one the quota
    refuses answers 429 at once."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: no grading processes")
    db = tmp_path / "grader.sqlite"
    token, failing = Store(db).add_team("ants"), Store(db).add_team("bees")
    server = Server(fashion_small, db, "--daily-limit", "1", "--failed-limit", "1", graders="2")
    stopped = []
    try:
        assert server.upload(token, submission(key, wrong=1)).status_code == 201
        assert server.upload(failing, b"id,class\n1,2\n").status_code == 400
        stopped = grading_processes(server)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        for who, data in ((token, submission(key, wrong=2)), (failing, submission(key, wrong=3))):
            answer = httpx.post(server.url + "/api/submissions", headers={"Authorization": f"Bearer {who}"},
                                files={"file": ("sub.csv", data, "text/csv")}, timeout=10)
            assert answer.status_code == 429, answer.text
            assert "limit resets at" in answer.json()["error"] or "failed uploads today" in answer.json()["error"]
        assert len(Store(db).submissions()) == 2, "nothing recorded"
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        server.stop()
