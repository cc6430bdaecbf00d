"""The upload client against a real grader server, its credentials rules and the Kaggle hand-over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from competition.server.store import Store
from competition.client.upload import main as upload_main
from tests.helpers import Server, free_port, host, in_process, submission

pytestmark = pytest.mark.usefixtures("clear_of_midnight")  # quotas follow the real UTC day


@pytest.fixture(scope="module")
def server(served):
    return served(["ants", "bees"], "--daily-limit", "2")


def client(*args, cwd, env=None):
    """``python -m competition.upload ARGS`` in ``cwd``, run in this process (its own process guards nothing here)."""
    environment = {k: None for k in os.environ if k.startswith("COMPETITION_")}
    environment["COMPETITION_CREDENTIALS"] = str(cwd / "no-credentials.json")
    environment.update(env or {})
    return in_process(upload_main, *args, cwd=cwd, env=environment)


def client_process(*args, cwd, env):
    """``python -m competition.upload ARGS`` in a child process whose environment is ``env`` alone."""
    return subprocess.run([sys.executable, "-m", "competition.upload", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_upload_list_select_and_leaderboard_like_the_kaggle_cli(fashion_small, key, tmp_path):
    store = Store(tmp_path / "grader.sqlite")  # its own server: the quota and the ranks are this test's alone
    env = {"COMPETITION_TOKEN": store.add_team("ants")}
    running = Server(fashion_small, tmp_path / "grader.sqlite", "--daily-limit", "2")
    try:
        env["COMPETITION_URL"] = running.url
        path = tmp_path / "mine.csv"
        path.write_bytes(submission(key, wrong=5, seed=5))
        done = client(path, "-m", "first try", cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert f"{path}: submission 1, public " in done.stdout and "(rank 1); 1 submission(s) left today" in done.stdout
        again = client(path, cwd=tmp_path, env=env)
        assert "same file as submission 1, not counted again" in again.stdout
        listed = client("submissions", cwd=tmp_path, env=env)
        assert "team ants:" in listed.stdout and "first try" in listed.stdout and "mine.csv" in listed.stdout
        assert client("select", "1", cwd=tmp_path, env=env).stdout.strip() == "submission 1 is now a final pick"
        assert client("unselect", "1", cwd=tmp_path, env=env).stdout.strip() == "submission 1 is no longer a final pick"
        board = client("leaderboard", cwd=tmp_path, env={"COMPETITION_URL": running.url})
        assert board.returncode == 0 and board.stdout.splitlines()[1].split()[:2] == ["1", "ants"]
        worse = tmp_path / "worse.csv"
        worse.write_bytes(submission(key, wrong=40, seed=6))
        assert client(worse, cwd=tmp_path, env=env).returncode == 0
        assert client("select", "2", cwd=tmp_path, env=env).returncode == 0
        reveal = host(tmp_path / "grader.sqlite", "reveal")
        assert reveal.returncode == 0, reveal.stderr
        ended = client("leaderboard", cwd=tmp_path, env={"COMPETITION_URL": running.url})
        picked = {row["id"]: row for row in Store(tmp_path / "grader.sqlite").submissions()}
        head, line = ended.stdout.splitlines()[-2:]
        assert head.split()[:4] == ["rank", "team", "public", "private"] and "deciding pick" in ended.stdout
        assert line.split()[2:4] == [f"{picked[2]['public']:.4f}", f"{picked[2]['private']:.4f}"], \
            "after the end the public score beside the private one is the pick's, as on the page"
        assert picked[1]["public"] > picked[2]["public"]
    finally:
        running.stop()


def test_refusals_exit_1_with_the_servers_message(server, key, tmp_path):
    running, tokens = server
    path = tmp_path / "bad.csv"
    path.write_text("id,label\n1,2\n")
    done = client(path, "--url", running.url, "--token", tokens["bees"], cwd=tmp_path)
    assert (done.returncode == 1 and "expected columns id,class, got id,label" in done.stderr
            and "(HTTP 400)" in done.stderr)
    wrong = client(path, "--url", running.url, "--token", "nope", cwd=tmp_path)
    assert (wrong.returncode == 1
            and "missing or invalid token (send Authorization: Bearer TOKEN) (HTTP 401)" in wrong.stderr)
    assert ("(HTTP 401): give your team's token (from your teacher) with --token TOKEN or COMPETITION_TOKEN=TOKEN, "
            f"or save it in the credentials file {tmp_path / 'no-credentials.json'} (see --help)") in wrong.stderr
    for n in range(2):
        path.write_bytes(submission(key, wrong=10 + n, seed=10 + n))
        assert client(path, "--url", running.url, "--token", tokens["bees"], cwd=tmp_path).returncode == 0
    path.write_bytes(submission(key, wrong=20, seed=20))
    over = client(path, "--url", running.url, "--token", tokens["bees"], cwd=tmp_path)
    assert over.returncode == 1 and "daily limit of 2 graded submissions reached; the limit resets at" in over.stderr
    gone = client(path, "--url", f"http://127.0.0.1:{free_port()}", "--token", "x", cwd=tmp_path)
    assert gone.returncode == 1 and gone.stderr.startswith("error: cannot reach http://127.0.0.1:")
    missing = client(path, cwd=tmp_path)
    assert missing.returncode == 1 and "no server address: give --url, set COMPETITION_URL" in missing.stderr
    tokenless = client(path, "--url", running.url, cwd=tmp_path)
    assert tokenless.returncode == 1 and "no team token: give --token, set COMPETITION_TOKEN" in tokenless.stderr


def saved(tmp_path, content) -> dict:
    """The environment of a client whose credentials file holds ``content``, readable by its owner only."""
    credentials = tmp_path / "credentials.json"
    credentials.write_text(content if isinstance(content, str) else json.dumps(content))
    credentials.chmod(0o600)
    return {"COMPETITION_CREDENTIALS": str(credentials)}


@pytest.mark.parametrize("mode", ["-rw-r--r--", "-rw-r-----", "-rw----r--", "-rw--w----"])
def test_a_credentials_file_others_can_read_is_refused(server, tmp_path, mode):
    running, tokens = server
    env = saved(tmp_path, {"url": running.url, "token": tokens["ants"]})
    (tmp_path / "credentials.json").chmod(sum(0o400 >> i for i, c in enumerate(mode[1:]) if c != "-"))
    done = client("submissions", cwd=tmp_path, env=env)
    assert done.returncode == 1 and f"readable by other users (mode {mode})" in done.stderr
    assert "chmod 600" in done.stderr
    (tmp_path / "credentials.json").chmod(0o600)
    assert "team ants:" in client("submissions", cwd=tmp_path, env=env).stdout


class Recorder:
    """A loopback socket that accepts connections and never answers; counts what connected."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.received = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.received.append(connection)  # kept open, never answered

    def close(self):
        self.socket.close()
        for connection in self.received:
            connection.close()


@pytest.fixture
def silent():
    recorder = Recorder()
    yield recorder
    recorder.close()


def test_a_saved_token_is_sent_only_to_its_saved_server(server, tmp_path, silent):
    running, tokens = server
    env = saved(tmp_path, {"url": running.url + "/", "token": tokens["ants"]})
    for other in (["--url", silent.url], []):
        refused = client("submissions", *other, "--timeout", "5", cwd=tmp_path,
                         env={**env, "COMPETITION_URL": silent.url})
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr == (f"error: no team token for {silent.url}: the token saved in "
                                  f"{tmp_path / 'credentials.json'} is for {running.url}, and is sent nowhere else; "
                                  "give --token or set COMPETITION_TOKEN\n")
    assert silent.received == [], "nothing was sent to the other server"
    assert "team ants:" in client("submissions", "--url", running.url, cwd=tmp_path, env=env).stdout
    other = saved(tmp_path, {"url": silent.url, "token": "the silent server's"})
    mine = client("submissions", "--url", running.url, "--token", tokens["bees"], "--timeout", "5", cwd=tmp_path,
                  env=other)
    assert mine.returncode == 0 and "team bees:" in mine.stdout, "--url and --token win over the saved ones"
    mine = client("submissions", "--timeout", "5", cwd=tmp_path, env={**other, "COMPETITION_URL": running.url,
                                                                      "COMPETITION_TOKEN": tokens["bees"]})
    assert mine.returncode == 0 and "team bees:" in mine.stdout, "so do the variables"
    board = client("leaderboard", "--url", running.url, "--timeout", "5", cwd=tmp_path, env=other)
    assert board.returncode == 0 and board.stdout.startswith("rank"), "the leaderboard needs no token"
    assert silent.received == []


@pytest.mark.parametrize("content, words", [
    ({"url": 123, "token": "x"}, '"url" must be a non-empty string, got 123'),
    ({"url": "http://127.0.0.1:9", "token": ["x"]}, '"token" must be a non-empty string, got ["x"]'),
    (["http://127.0.0.1:9", "x"], 'expected {"url": ..., "token": ...}, got a JSON list'),
    ("{not json", "not a JSON credentials file"),
    ({"url": "127.0.0.1:9", "token": "x"}, "url '127.0.0.1:9': expected http://HOST[:PORT]"),
])
def test_a_malformed_credentials_file_is_one_line(tmp_path, silent, content, words):
    done = client("submissions", cwd=tmp_path, env=saved(tmp_path, content))
    assert done.returncode == 1 and done.stderr.startswith(f"error: {tmp_path / 'credentials.json'}")
    assert words in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    unread = client("submissions", "--url", silent.url, "--token", "x", "--timeout", "0.5", cwd=tmp_path,
                    env=saved(tmp_path, content))
    assert "no answer from" in unread.stderr, "with --url and --token the file is not needed, nor read"


def test_a_pipe_or_a_folder_is_refused_at_once(tmp_path, silent):
    os.mkfifo(tmp_path / "pipe.csv")  # no writer: reading it would wait forever
    (tmp_path / "folder.csv").mkdir()
    for name in ("pipe.csv", "folder.csv"):
        done = client(tmp_path / name, "--url", silent.url, "--token", "x", cwd=tmp_path)
        assert done.returncode == 1
        kind = "a named pipe" if name == "pipe.csv" else "a folder"
        assert done.stderr == f"error: {tmp_path / name}: not a regular file ({kind}); nothing uploaded\n"
    missing = client(tmp_path / "none.csv", "--url", silent.url, "--token", "x", cwd=tmp_path)
    assert missing.returncode == 1 and "none.csv: cannot be read (No such file or directory)" in missing.stderr
    assert silent.received == []


def test_a_server_that_never_answers_is_given_up_after_the_timeout(tmp_path, silent):
    path = tmp_path / "sub.csv"
    path.write_text("id,class\n1,2\n")
    for verb in ([path], ["leaderboard"]):
        done = client(*verb, "--url", silent.url, "--token", "x", "--timeout", "0.5", cwd=tmp_path)
        assert done.returncode == 1 and done.stderr == f"error: no answer from {silent.url} within 0.5 s (--timeout)\n"
    assert len(silent.received) == 2
    zero = client("leaderboard", "--url", silent.url, "--timeout", "0", cwd=tmp_path)
    assert zero.returncode == 1 and "--timeout: must be a number above 0" in zero.stderr


class Stub(BaseHTTPRequestHandler):
    """Answers every request with the server's ``answers[path]`` (status, content type, body), else 404 HTML."""

    def do_GET(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.paths.append(self.path)
        status, kind, body = self.server.answers.get(self.path, (404, "text/html", b"<html>Not Found</html>"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_DELETE = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    """A loopback HTTP server that is not a grader (a proxy's page, another service), or a grader's
    leaderboard behind a proxy under ``/base``."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    http.answers, http.paths = {}, []
    http.url = f"http://127.0.0.1:{http.server_address[1]}"
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield http
    http.shutdown()
    http.server_close()


def test_an_answer_that_is_not_a_graders_is_one_line(stub, tmp_path):
    path = tmp_path / "sub.csv"
    path.write_text("id,class\n1,2\n")
    html = (200, "text/html", b"<html><body>Welcome to nginx</body></html>")
    stub.answers.update({"/api/submissions": html, "/api/leaderboard": (200, "application/json", b'{"hello": 1}'),
                         "/api/submissions/3/select": (200, "application/json", b'{"id": "3", "selected": true}')})
    expected = {(path,): "an answer that is not JSON for /api/submissions (HTTP 200)",
                ("submissions",): "an answer that is not JSON for /api/submissions (HTTP 200)",
                ("leaderboard",): "an answer without revealed, teams for /api/leaderboard (HTTP 200)",
                ("select", "3"): "an answer without id for /api/submissions/3/select (HTTP 200)",
                ("unselect", "3"): "an answer without id for /api/submissions/3/select (HTTP 200)"}
    for verb, why in expected.items():
        done = client(*verb, "--url", stub.url, "--token", "x", cwd=tmp_path)
        assert done.returncode == 1 and done.stderr == f"error: not a competition grader at {stub.url}: {why}\n"
    stub.answers["/api/leaderboard"] = (200, "application/json", b'{"revealed": false, "teams": [1, 2]}')
    rows = client("leaderboard", "--url", stub.url, cwd=tmp_path)
    assert rows.stderr == f"error: not a competition grader at {stub.url}: its teams are not records\n"
    late = {"id": 4, "public": 0.9, "private": 0.95, "rank": None, "late": True, "submissions_left_today": None,
            "resets_at": "2026-12-19T00:00:00Z"}
    stub.answers["/api/submissions"] = (201, "application/json", json.dumps(late).encode())
    shown = client(path, "--url", stub.url, "--token", "x", cwd=tmp_path)
    assert shown.stdout == (f"{path}: submission 4, public 0.9000 (private 0.9500; late: scored for your team, not "
                            "ranked); no daily limit\n")
    stub.answers["/api/submissions"] = (201, "application/json", json.dumps({**late, "public": True}).encode())
    boolean = client(path, "--url", stub.url, "--token", "x", cwd=tmp_path)
    assert "an answer without public for /api/submissions" in boolean.stderr, "true is no score"
    stub.answers["/api/submissions"] = (201, "application/json", json.dumps({**late, "late": False}).encode())
    unranked = client(path, "--url", stub.url, "--token", "x", cwd=tmp_path)
    assert unranked.stderr == (f"error: not a competition grader at {stub.url}: an answer without rank for "
                               "/api/submissions (HTTP 201)\n")
    stub.answers.clear()
    missing = client("leaderboard", "--url", stub.url, cwd=tmp_path)
    assert missing.stderr == f"error: not a competition grader at {stub.url}: HTTP 404 for /api/leaderboard\n"


def test_a_url_may_carry_a_proxys_sub_path_but_no_query(server, stub, tmp_path):
    running, _ = server
    board = {"revealed": False, "teams": [{"rank": 1, "team": "owls", "public": 0.9, "submissions": 2, "last": "x"}]}
    stub.answers["/base/api/leaderboard"] = (200, "application/json", json.dumps(board).encode())
    done = client("leaderboard", "--url", stub.url + "/base/", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.splitlines()[1].split()[:3] == ["1", "owls", "0.9000"], done.stderr
    assert stub.paths == ["/base/api/leaderboard"]
    wrong = client("leaderboard", "--url", running.url + "/base", cwd=tmp_path)
    assert wrong.returncode == 1 and wrong.stderr == (f"error: not a competition grader at {running.url}/base (is the "
                                                      "sub-path right?): HTTP 404 for /api/leaderboard\n")
    for url in (running.url + "/?season=1", running.url + "#top"):
        query = client("leaderboard", cwd=tmp_path, env={"COMPETITION_URL": url})
        assert query.returncode == 1 and query.stderr.startswith(f"error: COMPETITION_URL {url!r}: a grader's address "
                                                                 "has no query or fragment"), query.stderr
    scheme = client("leaderboard", "--url", "ftp://127.0.0.1", cwd=tmp_path)
    assert scheme.returncode == 1 and "--url 'ftp://127.0.0.1': expected http://HOST[:PORT]" in scheme.stderr


def test_kaggle_hand_over_goes_through_the_real_package_to_our_grader(server, key, tmp_path):
    pytest.importorskip("kaggle", reason="the [kaggle] extra: pip install 'competition[kaggle]'")
    running, _ = server
    token = Store(running.db).add_team("kag")  # a team of one: its member is named as the team
    config = tmp_path / "kaggle"
    config.mkdir()
    (config / "kaggle.json").write_text(json.dumps({"username": "kag", "key": token}))
    (config / "kaggle.json").chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                                                                     "NO_PROXY") and not k.startswith("KAGGLE")}
    env.update(HOME=str(tmp_path), KAGGLE_CONFIG_DIR=str(config), KAGGLE_API_ENVIRONMENT="LOCALHOST",
               HTTP_PROXY=running.url)
    path = tmp_path / "sub.csv"
    path.write_bytes(submission(key, wrong=9, seed=9))
    # the kaggle package reads its settings (proxy, config folder) when imported: a process of its own
    done = client_process(path, "-m", "my note", "--kaggle", running.data.name, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    row = Store(running.db).submissions("kag")[-1]
    assert (row["status"], row["message"], row["name"], row["member"]) == ("ok", "my note", "sub.csv", "kag")
    assert done.stdout.startswith(f"{path}: handed to Kaggle competition {running.data.name!r}: Successfully "
                                  f"submitted to {running.data.name}: submission {row['id']}, rank ")
    assert done.stdout.endswith(f", public {row['public']:.4f}\n"), done.stdout
    refused = client_process(path, "--kaggle", "titanic", cwd=tmp_path, env=env)
    assert refused.returncode == 1 and refused.stderr == (
        f"error: {path}: Kaggle competition 'titanic' refused it: no competition 'titanic' on this grader: it serves "
        f"{running.data.name!r} (HTTP 404)\n"), refused.stderr
    assert len(Store(running.db).submissions("kag")) == 1


def test_submit_upload_sends_the_file_it_wrote(server, fashion_small, tmp_path):
    running, _ = server
    token = Store(running.db).add_team("cats")
    env = {"COMPETITION_URL": running.url, "COMPETITION_TOKEN": token,
           "COMPETITION_CREDENTIALS": str(tmp_path / "none.json")}
    done = subprocess.run([sys.executable, "-m", "competition.submit", "--model", "dt", "--param", "max_depth=4",
                           "--folds", "3", "--data", str(fashion_small), "--name", "tree", "--upload", "-m", "a tree"],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, **env}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "submissions/tree.csv: submission " in done.stdout and "left today" in done.stdout
    rows = Store(running.db).submissions("cats")
    assert [(r["name"], r["message"], r["status"]) for r in rows] == [("tree.csv", "a tree", "ok")]


def test_submit_upload_without_a_server_stops_before_cross_validating(fashion_small, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPETITION_")}
    env["COMPETITION_CREDENTIALS"] = str(tmp_path / "none.json")
    done = subprocess.run([sys.executable, "-m", "competition.submit", "--model", "dt", "--folds", "3", "--data",
                           str(fashion_small), "--upload"], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("error: no server address: give --url")
    assert not (tmp_path / "runs").exists() and done.stdout == ""


class Zips(BaseHTTPRequestHandler):
    """Serves ``server.body`` at any path as a grader's data zip: with its true sha256 announced, so
    that only the client's own bounds stand between a hostile zip and the disk."""

    def do_GET(self):
        import hashlib

        from competition.wire import DATA_SHA256_HEADER

        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header(DATA_SHA256_HEADER, hashlib.sha256(self.server.body).hexdigest())
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile():
    """A loopback server that hands out whatever zip a test puts in ``hostile.body``."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), Zips)
    http.body, http.url = b"", f"http://127.0.0.1:{http.server_address[1]}"
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield http
    http.shutdown()
    http.server_close()


def zipped(*entries) -> bytes:
    """A zip of ``(name, bytes)`` entries (deflated), or of ready ``ZipInfo``s with their bytes."""
    import io
    import zipfile

    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, content in entries:
            bundle.writestr(name, content)
    return data.getvalue()


def link(name: str, target: str):
    import zipfile

    info = zipfile.ZipInfo(name)
    info.external_attr = 0o120777 << 16  # a symbolic link, as `zip --symlinks` stores one
    return info, target


HOSTILE = {  # zip -> the words of its one-line refusal
    "dotdot": (lambda: zipped(("train.csv", "id,class\n"), ("../escape.txt", "out")), "unsafe name '../escape.txt'"),
    "absolute": (lambda: zipped((f"/tmp/escape-{os.getpid()}.txt", "out")), "unsafe name '/tmp/escape-"),
    "backslash": (lambda: zipped(("..\\escape.txt", "out")), "unsafe name '..\\\\escape.txt'"),
    "link": (lambda: zipped(link("images", "/etc")), "unsafe name 'images'"),
    "deep": (lambda: zipped(("d/" * 2000 + "f.txt", "x")), "a path 2001 parts deep ('d/d/d/"),
    "shallow bomb": (lambda: zipped(("train.csv", bytes(16 << 20))), "claims to unpack to 16.0 MiB, over the"),
    "many small": (lambda: zipped(*((f"images/{i}.png", bytes(256 << 10)) for i in range(40))),
                   "claims to unpack to 10.0 MiB, over the"),
    "twice": (lambda: zipped(("train.csv", "a"), ("./train.csv", "b")), "holds './train.csv' twice"),
    "file and folder": (lambda: zipped(("images", "a"), ("images/1.png", "b")), "also holds a folder or a file"),
    "no competition": (lambda: zipped(("notes.txt", "hello")), "not a competition's data (train.csv: missing"),
    "not a zip": (lambda: b"PK\x03\x04 and then nothing", "not a whole zip"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_zip_is_refused_in_one_line_and_leaves_nothing(hostile, tmp_path, case):
    from competition.client.download import DownloadError, download

    make, words = HOSTILE[case]
    hostile.body = make()
    out = tmp_path / "box" / "data"
    with pytest.raises(DownloadError) as refused:
        download(hostile.url, "token", out, timeout=10)
    assert words in str(refused.value) and "\n" not in str(refused.value), str(refused.value)
    assert list((tmp_path / "box").iterdir()) == [], "no --out, no work folder, no zip left"
    assert not (tmp_path / "escape.txt").exists() and not os.path.exists(f"/tmp/escape-{os.getpid()}.txt")


def test_a_zip_bomb_at_the_command_line_is_one_line_and_an_empty_out_stays_empty(hostile, tmp_path):
    from competition.client.download import MAX_RATIO, RATIO_FLOOR

    hostile.body = zipped(("train.csv", bytes(24 << 20)))  # 24 MiB of zeros in ~24 KB: the ratio, not the floor
    assert RATIO_FLOOR < len(hostile.body) * MAX_RATIO < 24 << 20
    out = tmp_path / "data"
    out.mkdir()
    done = client("download", "--url", hostile.url, "--token", "t", "--out", out, cwd=tmp_path)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"error: {hostile.url}/api/data: the zip of ") and "zip bomb" in done.stderr
    assert list(tmp_path.iterdir()) == [out] and list(out.iterdir()) == []


def test_download_into_the_empty_working_folder(server, fashion_small, tmp_path):
    from competition.data.loader import load_competition

    running, tokens = server
    here = tmp_path / "here"
    here.mkdir()
    before = here.stat().st_ino
    done = client("download", "--url", running.url, "--token", tokens["ants"], "--out", ".", cwd=here)
    assert done.returncode == 0, done.stderr
    assert f"downloaded into {here}/" in done.stdout
    assert here.stat().st_ino == before, "the folder the user stands in is filled, not replaced"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"], "nothing left beside it"
    assert load_competition(here).fingerprint == load_competition(fashion_small, cache=False).fingerprint
    again = client("download", "--url", running.url, "--token", tokens["ants"], "--out", ".", cwd=here)
    assert again.returncode == 1 and "not empty" in again.stderr


@pytest.mark.parametrize("verb", [["download"], ["submit"], ["leaderboard"], []])
def test_help_says_what_the_credentials_file_is_and_where_it_lives(tmp_path, monkeypatch, capsys, verb):
    from competition.client.upload import build_parser

    monkeypatch.setenv("COMPETITION_CREDENTIALS", str(tmp_path / "mine.json"))
    with pytest.raises(SystemExit):
        build_parser().parse_args([*verb, "--help"])
    shown = capsys.readouterr().out
    assert f"the credentials file:\n  {tmp_path / 'mine.json'}\n" in shown
    assert '{"url": "http://HOST:PORT", "token": "..."}' in shown and "chmod 600" in shown


def test_a_zips_budget_is_its_ratio_within_a_floor_and_a_ceiling():
    from competition.client.download import MAX_BYTES, MAX_RATIO, RATIO_FLOOR, budget

    assert budget(1_000) == RATIO_FLOOR, "a few tiny CSVs may compress well"
    assert budget(10 << 20) == MAX_RATIO * (10 << 20) and budget(1 << 40) == MAX_BYTES


def test_the_leaderboard_marks_a_disabled_team_as_the_web_board_does(stub, tmp_path):
    teams = [{"rank": 1, "team": "ants", "public": 0.9, "submissions": 2, "last": "2026-12-07T10:00:00Z",
              "disabled": True},
             {"rank": 2, "team": "bees", "public": 0.8, "submissions": 1, "last": "2026-12-07T10:00:00Z",
              "disabled": False}]
    stub.answers["/api/leaderboard"] = (200, "application/json",
                                        json.dumps({"revealed": False, "teams": teams}).encode())
    shown = client("leaderboard", "--url", stub.url, cwd=tmp_path).stdout
    assert "ants (disabled)" in shown and "bees (disabled)" not in shown and "bees" in shown
