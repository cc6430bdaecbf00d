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
from tests.test_server import Server, free_port, submission

pytestmark = pytest.mark.usefixtures("clear_of_midnight")  # quotas follow the real UTC day


@pytest.fixture(scope="module")
def key(fashion_small):
    import pandas as pd

    return pd.read_csv(fashion_small.with_name(fashion_small.name + ".grader") / "solution.csv", dtype=str)


@pytest.fixture(scope="module")
def server(fashion_small, tmp_path_factory):
    folder = tmp_path_factory.mktemp("upload")
    store = Store(folder / "grader.sqlite")
    tokens = {name: store.add_team(name) for name in ("ants", "bees")}
    running = Server(fashion_small, folder / "grader.sqlite", "--daily-limit", "2")
    yield running, tokens
    running.stop()


def client(*args, cwd, env=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COMPETITION_")}
    environment["COMPETITION_CREDENTIALS"] = str(cwd / "no-credentials.json")
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "competition.upload", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=environment, timeout=120)


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
    finally:
        running.stop()


def test_refusals_exit_1_with_the_servers_message(server, key, tmp_path):
    running, tokens = server
    path = tmp_path / "bad.csv"
    path.write_text("id,label\n1,2\n")
    done = client(path, "--url", running.url, "--token", tokens["bees"], cwd=tmp_path)
    assert done.returncode == 1 and "expected columns id,class, got id,label" in done.stderr and "(HTTP 400)" in done.stderr
    wrong = client(path, "--url", running.url, "--token", "nope", cwd=tmp_path)
    assert wrong.returncode == 1 and "missing or invalid token (send Authorization: Bearer TOKEN) (HTTP 401)" in wrong.stderr
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
        assert done.stderr == f"error: {tmp_path / name}: not a regular file; nothing uploaded\n"
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


def test_kaggle_hand_over_says_what_is_missing_and_passes_the_file(tmp_path):
    path = tmp_path / "sub.csv"
    path.write_text("id,class\n1,2\n")
    missing = client(path, "--kaggle", "fashion", cwd=tmp_path, env={"PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    assert missing.returncode == 1 and "--kaggle needs the official Kaggle package: pip install kaggle" in missing.stderr
    fake = tmp_path / "fake" / "kaggle" / "api"  # stands in for the real package: records what it is handed
    fake.mkdir(parents=True)
    (tmp_path / "fake" / "kaggle" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "kaggle_api_extended.py").write_text(
        "import json, os\n"
        "class KaggleApi:\n"
        "    def authenticate(self):\n"
        "        pass\n"
        "    def competition_submit(self, file_name, message, competition):\n"
        "        open(os.environ['KAGGLE_RECORD'], 'w').write(json.dumps([file_name, message, competition]))\n"
        "        return 'Successfully submitted'\n")
    paths = os.pathsep.join(filter(None, [str(tmp_path / "fake"), os.environ.get("PYTHONPATH")]))
    record = tmp_path / "record.json"
    done = client(path, "-m", "my note", "--kaggle", "fashion", cwd=tmp_path,
                  env={"PYTHONPATH": paths, "KAGGLE_RECORD": str(record)})
    assert done.returncode == 0, done.stderr
    assert json.loads(record.read_text()) == [str(path), "my note", "fashion"]
    assert "handed to Kaggle competition 'fashion': Successfully submitted" in done.stdout


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


def test_the_leaderboard_marks_a_disabled_team_as_the_web_board_does(stub, tmp_path):
    teams = [{"rank": 1, "team": "ants", "public": 0.9, "submissions": 2, "last": "2026-12-07T10:00:00Z",
              "disabled": True},
             {"rank": 2, "team": "bees", "public": 0.8, "submissions": 1, "last": "2026-12-07T10:00:00Z",
              "disabled": False}]
    stub.answers["/api/leaderboard"] = (200, "application/json",
                                        json.dumps({"revealed": False, "teams": teams}).encode())
    shown = client("leaderboard", "--url", stub.url, cwd=tmp_path).stdout
    assert "ants (disabled)" in shown and "bees (disabled)" not in shown and "bees" in shown
