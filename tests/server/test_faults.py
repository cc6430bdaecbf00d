"""Faults a hostile tester tried on the grader server, each produced for real against a real server:
half-open connections, another process holding the write lock, a full disk, a read-only database,
the database removed while serving, another competition's folder. Each answers ``{"error"}``
(503 with ``Retry-After`` while the cause lasts), never 201 for what was not stored, and the server
recovers by itself when the cause goes."""

from __future__ import annotations

import os
import resource
import signal
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from competition.grade.grader import Grader
from competition.server.grading import ProcessPool
from competition.server.store import Store
from tests.helpers import Server, free_port, grading_processes, submission


@pytest.fixture(scope="module")
def faulty(fashion_small, tmp_path_factory):
    """One server for the faults below: each fault's cause goes before its test ends, and the server
    recovers from it by itself (what each test checks last)."""
    server = Server(fashion_small, tmp_path_factory.mktemp("faults") / "grader.sqlite", "--daily-limit", "50",
                    "--header-timeout", "1", "--body-timeout", "2")
    yield server
    server.stop()


@pytest.fixture
def served(faulty, request):
    """The faults' server with a new team of one for this test (named after it); the team's token."""
    return faulty, faulty.team(request.node.name[5:40])


def team(server: Server, token: str) -> str:
    return Store(server.db).member_of(token)["team"]


def refused(response: httpx.Response, words: str) -> None:
    assert response.status_code == 503, response.text
    assert words in response.json()["error"] and int(response.headers["Retry-After"]) > 0


def test_half_open_connections_never_block_a_request_and_are_closed(served):
    server, token = served
    stalled = []
    for n in range(50):  # half their headers, then nothing
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-da")
        stalled.append(sock)
    trickle = socket.create_connection(("127.0.0.1", server.port))  # whole headers, a body that never ends
    trickle.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode()
                    + b"\r\nContent-Type: multipart/form-data; boundary=cut\r\nContent-Length: 100000\r\n\r\n"
                    b'--cut\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nid,class\n')
    try:
        assert httpx.get(server.url + "/api/leaderboard", timeout=5).status_code == 200
        for sock in stalled + [trickle]:
            sock.settimeout(20)
            assert sock.recv(1024) == b"", "the server closes a connection that stalls, answering nothing"
    finally:
        for sock in stalled + [trickle]:
            sock.close()
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200


def test_a_held_write_lock_gives_503_with_retry_after_then_recovers(served, key):
    server, token = served
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); db.execute('BEGIN IMMEDIATE');"
        " print('held', flush=True); sys.stdin.read()"), str(server.db)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        waited = httpx.post(server.url + "/api/submissions", headers={"Authorization": f"Bearer {token}"},
                            files={"file": ("a.csv", submission(key, 3))}, timeout=30)  # not the 61 s of before
        refused(waited, "cannot be used now (database is locked)")
    finally:
        holder.communicate("")  # the holder exits: its lock goes
    assert server.upload(token, submission(key, 3)).status_code == 201
    assert [row["status"] for row in Store(server.db).submissions(team(server, token))] == ["ok"], \
        "the refused upload left nothing"


def test_a_full_disk_gives_503_and_recovers(served, key):
    server, token = served
    bees = server.team(team(server, token) + " bees")
    assert server.upload(token, submission(key, 1)).status_code == 201
    before = resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (100, before[1]))  # no file may grow past 100 bytes
    try:
        refused(server.upload(token, submission(key, 2, seed=7)), "the upload cannot be kept (File too large)")
        refused(server.upload(bees, submission(key, 1)), "the grader's database cannot be used now")  # file kept
    finally:
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, before)
    for who, data in ((token, submission(key, 2, seed=7)), (bees, submission(key, 1))):  # a file no test kept before
        again = server.upload(who, data)
        assert again.status_code == 201, f"space again: accepted without a restart ({again.text})"
    assert sum(len(Store(server.db).submissions(team(server, who))) for who in (token, bees)) == 3


def immutable(paths, on: bool) -> bool:
    """``chattr +i``: a file nobody may write, root included (False where the filesystem has no such flag)."""
    return all(subprocess.run(["chattr", "+i" if on else "-i", str(p)], capture_output=True).returncode == 0
               for p in paths)


def test_a_read_only_database_gives_503_and_recovers_without_restart(served, key):
    server, token = served
    assert server.upload(token, submission(key, 1)).status_code == 201
    files = [server.db, server.db.with_name(server.db.name + "-wal")]
    if shutil.which("chattr") is None or not immutable(files, True):
        immutable(files, False)
        pytest.skip("no immutable files here: a read-only database cannot be made for root")
    try:
        refused(server.upload(token, submission(key, 2)), "nothing was stored")
        assert server.get("/api/leaderboard").status_code in (200, 503)
    finally:
        immutable(files, False)
    again = server.upload(token, submission(key, 2))
    assert again.status_code == 201, f"writable again: accepted without a restart ({again.text})"


def test_a_database_removed_while_serving_is_refused_and_never_recreated(fashion_small, key, tmp_path, request):
    token = Store(tmp_path / "grader.sqlite").add_team("ants")  # a server of its own: its database ends replaced
    server = Server(fashion_small, tmp_path / "grader.sqlite", "--daily-limit", "50", "--header-timeout", "1",
                    "--body-timeout", "2")
    request.addfinalizer(server.stop)
    assert server.upload(token, submission(key, 1)).status_code == 201
    aside = server.db.with_name("moved.sqlite")
    os.rename(server.db, aside)
    try:
        refused(server.upload(token, submission(key, 2)), "the grader's database is gone")
        refused(server.get("/api/leaderboard"), "the grader's database is gone")
        assert not server.db.exists(), "no empty database is made in its place"
    finally:
        os.rename(aside, server.db)
    assert server.upload(token, submission(key, 2)).status_code == 201, "put back: served again"
    replaced = server.db.with_name("copy.sqlite")
    shutil.copyfile(server.db, replaced)
    os.replace(replaced, server.db)
    refused(server.upload(token, submission(key, 3)), "replaced by another file")
    with sqlite3.connect(server.db) as db:
        assert db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 2


def test_the_database_and_its_wal_are_the_owners_alone(served, key):
    server, token = served
    assert server.upload(token, submission(key, 1)).status_code == 201
    for suffix in ("", "-wal", "-shm"):
        path = server.db.with_name(server.db.name + suffix)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_serve_refuses_another_competitions_folder(fashion_small, tmp_path):
    db = tmp_path / "grader.sqlite"
    Server(fashion_small, db).stop()
    other = tmp_path / "other-class"
    shutil.copytree(fashion_small, other, copy_function=os.link, ignore=shutil.ignore_patterns(".cache*"))
    shutil.copytree(fashion_small.with_name(fashion_small.name + ".grader"), other.with_name("other-class.grader"))
    run = subprocess.run([sys.executable, "-m", "competition.server", "serve", "--data", str(other), "--db", str(db),
                          "--port", str(free_port())], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "belongs to another competition (folder 'fashion-small')" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_two_worker_processes_share_one_database_and_its_quota(fashion_small, tmp_path, key):
    token = Store(tmp_path / "grader.sqlite").add_team("ants")
    server = Server(fashion_small, tmp_path / "grader.sqlite", "--workers", "2", "--daily-limit", "4")
    try:
        with ThreadPoolExecutor(10) as pool:
            statuses = sorted(pool.map(lambda n: server.upload(token, submission(key, n + 1)).status_code, range(10)))
        assert statuses == [201] * 4 + [429] * 6, "the daily limit holds across processes"
        assert [line["submissions"] for line in server.get("/api/leaderboard").json()["teams"]] == [4]
        workers = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout
        assert len(workers.split()) >= 2, "two worker processes"
    finally:
        server.stop()


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as found:
            return found.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_grading_processes_grade_in_parallel_keep_the_quota_and_recover_from_a_killed_one(fashion_small, tmp_path, key):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: serve grades in its own process by default")
    token = Store(tmp_path / "grader.sqlite").add_team("ants")
    server = Server(fashion_small, tmp_path / "grader.sqlite", "--daily-limit", "4", graders=None)  # one a core
    try:
        files = [submission(key, n + 1, seed=n) for n in range(10)]
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda data: server.upload(token, data), files))
        assert sorted(a.status_code for a in answers) == [201] * 4 + [429] * 6, "the daily limit holds"
        local = Grader(fashion_small)
        for data, answer in zip(files, answers):
            if answer.status_code == 201:  # the pool scores as the grader does, each file its own score
                assert answer.json()["public"] == pytest.approx(local.assess(data).scores["public"])
        workers = grading_processes(server)
        assert len(workers) == len(os.sched_getaffinity(0)), "by default, a grading process a core"
        os.kill(workers[0], signal.SIGKILL)  # out of memory, say, while idle: the next upload never sees it
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:  # the pool ends the others
            time.sleep(0.1)
        other = Store(tmp_path / "grader.sqlite").add_team("bees")
        again = server.upload(other, files[0])
        assert again.status_code == 201, again.text
        assert len(grading_processes(server)) == len(workers) and workers[0] not in grading_processes(server)
        workers = grading_processes(server)
    finally:
        server.stop()
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), "the grading processes end with the server"


def test_more_grading_processes_than_cores_are_not_started(fashion_small, tmp_path):
    """``--graders 64`` on a small machine starts one a core and says so: the rest would only wait, each
    holding the answer key in memory."""
    server = Server(fashion_small, tmp_path / "grader.sqlite", "--graders", "64")
    try:
        cores = len(os.sched_getaffinity(0))
        assert len(grading_processes(server)) == cores
        assert f"--graders 64: starting {cores}, one for each of the {cores} cores here" in server.output()
    finally:
        server.stop()


def test_a_restarted_pool_outlives_the_thread_that_found_it_broken(fashion_small, key):
    """``PR_SET_PDEATHSIG`` kills a grading process when the thread that started it ends: a pool found
    broken by a request's thread (which the server retires when idle) is started from the pool's own
    thread, and the upload that found it broken is graded, not refused."""
    grader = Grader(fashion_small)
    pool = ProcessPool(2, grader, "key")
    data = submission(key, 3)

    def children() -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "spawn_main"], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    try:
        assert pool.assess(grader, "key", data, "first.csv").scores == grader.assess(data).scores
        first = children()
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in first) and time.monotonic() < deadline:  # the pool is found broken and
            time.sleep(0.1)  # ends its other processes
        graded = []
        request = threading.Thread(target=lambda: graded.append(pool.assess(grader, "key", data, "sub.csv")))
        request.start()
        request.join()
        assert graded[0].scores == grader.assess(data).scores, "the upload after an idle process died is graded"
        time.sleep(1)  # the request's thread has ended: processes it had started would be dead by now
        now = children()
        assert len(now) == 2 and first[0] not in now and all(alive(pid) for pid in now)
        assert pool.assess(grader, "key", data, "again.csv").scores == grader.assess(data).scores
    finally:
        pool.start().shutdown(wait=True, cancel_futures=True)
