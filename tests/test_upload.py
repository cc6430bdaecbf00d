"""The upload client against a real grader server, its credentials rules and the Kaggle hand-over."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from competition.server.store import Store
from tests.test_server import Server, free_port, submission


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


def test_upload_list_select_and_leaderboard_like_the_kaggle_cli(server, key, tmp_path):
    running, tokens = server
    env = {"COMPETITION_URL": running.url, "COMPETITION_TOKEN": tokens["ants"]}
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
    board = client("leaderboard", cwd=tmp_path, env={"COMPETITION_URL": running.url})
    assert board.returncode == 0 and board.stdout.splitlines()[1].split()[:2] == ["1", "ants"]


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


def test_a_credentials_file_others_can_read_is_refused(server, key, tmp_path):
    running, tokens = server
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"url": running.url, "token": tokens["ants"]}))
    credentials.chmod(0o644)
    env = {"COMPETITION_CREDENTIALS": str(credentials)}
    done = client("submissions", cwd=tmp_path, env=env)
    assert done.returncode == 1 and "readable by other users (mode -rw-r--r--)" in done.stderr and "chmod 600" in done.stderr
    credentials.chmod(0o600)
    assert "team ants:" in client("submissions", cwd=tmp_path, env=env).stdout


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
