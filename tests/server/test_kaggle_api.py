"""The official Kaggle CLI (the pinned ``kaggle`` package, unmodified, in a subprocess) against a real
grader on loopback: reached through ``HTTP_PROXY`` with ``KAGGLE_API_ENVIRONMENT=LOCALHOST``, under
our rules and with our messages; and every answer loaded with the pinned ``kagglesdk``'s own types,
so a change of the protocol fails here."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from competition.data.loader import load_competition
from competition.server.store import Store
from tests.helpers import Server, host, submission

pytest.importorskip("kaggle", reason="the [kaggle] extra: pip install 'competition[kaggle]'")
from kagglesdk.competitions.types import competition_api_service as sdk  # noqa: E402
from kagglesdk.kaggle_object import KaggleObject, KaggleObjectSerializer, ListSerializer  # noqa: E402

pytestmark = pytest.mark.usefixtures("clear_of_midnight")  # quotas follow the real UTC day
RPC = "/api/v1/competitions.CompetitionApiService/"
MAX_BYTES = 100_000  # a submission of the small slice is 1 kB
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(scope="module")
def grader(served):
    """One server for the module: team ants (alice, ann), bees (bob, disabled), cats (cat), daily limit 2."""
    return served([("ants", "alice"), ("ants", "ann"), ("bees", "bob"), ("cats", "cat")], "--daily-limit", "2",
                  "--max-bytes", str(MAX_BYTES), disabled=["bees"])


def kaggle(running: Server, home: Path, member: str | None, token: str | None, *args: str):
    """``kaggle ARGS`` as a student runs it: kaggle.json in its config folder, the two variables set."""
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    if member is not None:
        (config / "kaggle.json").write_text(json.dumps({"username": member, "key": token}))
        (config / "kaggle.json").chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k.upper() not in PROXY_VARIABLES and not k.startswith("KAGGLE")}
    env.update(HOME=str(home), KAGGLE_CONFIG_DIR=str(config), KAGGLE_API_ENVIRONMENT="LOCALHOST",
               HTTP_PROXY=running.url)
    return subprocess.run([sys.executable, "-m", "kaggle", *args], capture_output=True, text=True, cwd=home, env=env,
                          timeout=120)


def rpc(running: Server, method: str, body: dict, member: str | None = None, token: str | None = None,
        **kwargs) -> httpx.Response:
    """One RPC on the server's own port (the CLI's other way in: the proxy's absolute form)."""
    auth = {"Authorization": "Basic " + base64.b64encode(f"{member}:{token}".encode()).decode()} if token else {}
    return httpx.post(running.url + RPC + method, json=body, headers=auth, timeout=60, **kwargs)


def conforms(kind: type[KaggleObject], answer: dict) -> KaggleObject:
    """``answer`` loaded with kagglesdk's own ``from_dict``, every key one of ``kind``'s fields and every
    value of its field's type (each setter checks it), nested objects too."""
    assert isinstance(answer, dict)
    fields = {field.json_name: field for field in kind._fields}
    assert set(answer) <= set(fields), f"{kind.__name__} has no fields {set(answer) - set(fields)}"
    loaded = kind.from_dict(answer)
    for name, value in answer.items():
        field = fields[name]
        if isinstance(field.serializer, ListSerializer) and issubclass(field.field_type, KaggleObject):
            assert isinstance(value, list) and all(conforms(field.field_type, item) for item in value)
        elif isinstance(field.serializer, KaggleObjectSerializer):
            conforms(field.field_type, value)
        setattr(loaded, field.field_name, getattr(loaded, field.private_field_name))  # the setter's type check
    return loaded


def counted(running: Server, team: str) -> list[dict]:
    return [row for row in Store(running.db).submissions(team)]


def test_submit_wait_submissions_and_leaderboard_through_the_kaggle_cli(grader, key, tmp_path):
    running, tokens = grader
    path = tmp_path / "mine.csv"
    path.write_bytes(submission(key, wrong=7, seed=1))
    done = kaggle(running, tmp_path, "alice", tokens["alice"], "competitions", "submit", running.data.name,
                  "-f", str(path), "-m", "first try", "--wait")
    assert done.returncode == 0, done.stderr
    row = counted(running, "ants")[-1]
    ours = running.get("/api/submissions", tokens["ann"]).json()["submissions"][-1]  # teammate, our API
    assert (row["status"], row["member"], row["message"], row["name"]) == ("ok", "alice", "first try", "mine.csv")
    assert ours["public"] == row["public"] and ours["id"] == row["id"]
    assert f"Submission ref: {row['id']}" in done.stdout and "1 submissions remaining today." in done.stdout
    assert f"Submission scored. Public score: {row['public']:.6f}" in done.stdout
    assert f"Successfully submitted to {running.data.name}: submission {row['id']}, rank 1" in done.stdout
    listed = kaggle(running, tmp_path, None, None, "competitions", "submissions", running.data.name, "-v")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == "ref,fileName,date,description,status,publicScore,privateScore"
    assert lines[1].startswith(f"{row['id']},mine.csv,") and lines[1].endswith(f",first try,"
                                                                              f"SubmissionStatus.COMPLETE,"
                                                                              f"{row['public']:.6f},")
    board = kaggle(running, tmp_path, None, None, "competitions", "leaderboard", running.data.name, "--show", "-v")
    assert board.returncode == 0, board.stderr
    assert board.stdout.splitlines()[1].endswith(f",ants,{row['time'][:10]} {row['time'][11:19]},{row['public']:.6f}")
    assert "first try" not in running.output() and tokens["alice"] not in running.output()
    assert "kaggle-uploads" not in running.output(), "no upload ticket in the server's log"
    assert not list((running.db.with_name(running.db.name + ".kaggle")).glob("*.csv")), "no upload left pending"


def test_download_gives_the_teachers_data(grader, fashion_small, tmp_path):
    running, tokens = grader
    done = kaggle(running, tmp_path, "cat", tokens["cat"], "competitions", "download", running.data.name,
                  "-p", str(tmp_path / "got"))
    assert done.returncode == 0, done.stderr
    zipped = tmp_path / "got" / f"{running.data.name}.zip"
    zipfile.ZipFile(zipped).extractall(tmp_path / "mine")
    assert load_competition(tmp_path / "mine", cache=False).fingerprint == \
        load_competition(fashion_small, cache=False).fingerprint
    one = kaggle(running, tmp_path, None, None, "competitions", "download", running.data.name, "-f", "train.csv",
                 "-p", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    assert (tmp_path / "one" / "train.csv").read_bytes() == (fashion_small / "train.csv").read_bytes()


def test_refusals_end_in_the_cli_with_our_message_and_store_nothing(grader, key, tmp_path):
    running, tokens = grader
    name = running.data.name
    good = tmp_path / "good.csv"
    good.write_bytes(submission(key, wrong=3, seed=2))
    before = Store(running.db).submissions()

    def submit(member, token, path=good, competition=name):
        home = tmp_path / f"{member}-{token[:4]}-{competition}-{path.stem}"  # a kaggle.json each
        return kaggle(running, home, member, token, "competitions", "submit", competition, "-f", str(path),
                      "-m", "x")

    columns = tmp_path / "columns.csv"
    columns.write_text("id,label\n" + "".join(f"{i},0\n" for i in key["id"]))
    with ThreadPoolExecutor(4) as pool:  # independent refusals at once: the CLI takes seconds to start
        wrong_token, disabled, elsewhere, invalid = pool.map(lambda args: submit(*args), [
            ("cat", "not-a-token"), ("bob", tokens["bob"]), ("cat", tokens["cat"], good, "titanic"),
            ("cat", tokens["cat"], columns)])
    assert wrong_token.returncode == 1 and "wrong token: the key in kaggle.json is no member's token" \
        in wrong_token.stderr, wrong_token.stdout + wrong_token.stderr
    someone_else = rpc(running, "StartSubmissionUpload", {"competitionName": name}, "alice", tokens["cat"])
    assert someone_else.status_code == 403 and someone_else.json()["message"] == \
        "wrong username 'alice': this token is member 'cat''s (kaggle.json's username must be 'cat')"
    assert disabled.returncode == 1 and "team 'bees' is disabled by the host: no uploads or picks" in disabled.stderr
    assert elsewhere.returncode == 1 and "Could not find competition" in elsewhere.stderr
    assert f"no competition 'titanic' on this grader: it serves '{name}'" in elsewhere.stderr
    assert invalid.returncode == 1 and "columns.csv" in invalid.stderr and "class" in invalid.stderr, invalid.stderr
    ours = running.upload(tokens["cat"], columns.read_bytes(), name="columns.csv").json()["error"]
    assert ours.split(":", 1)[1] in invalid.stderr, "the validator's own message"
    after = Store(running.db).submissions()
    assert [r["status"] for r in after[len(before):]] == ["error", "error"], "only the invalid files, as failed"
    for seed in (4, 5):  # the daily limit of 2, spent through our API
        assert running.upload(tokens["cat"], submission(key, wrong=seed, seed=seed)).status_code == 201
    over = submit("cat", tokens["cat"])
    assert over.returncode == 1 and "daily limit" in over.stderr, over.stderr
    assert [r["status"] for r in Store(running.db).submissions("cats")].count("ok") == 2
    limits = kaggle(running, tmp_path, "cat", tokens["cat"], "competitions", "submission-limits", name)
    assert limits.stdout.splitlines() == ["Submissions today: 2", "Lifetime submissions: 2", "Remaining today: 0"]


def test_every_answer_loads_with_the_pinned_kagglesdk(grader, key, tmp_path):
    running, tokens = grader
    name, member, token = running.data.name, "ann", tokens["ann"]
    ask = lambda method, body: rpc(running, method, body, member, token)  # noqa: E731
    started = ask("StartSubmissionUpload", {"competitionName": name, "fileName": "s.csv", "contentLength": 9})
    upload = conforms(sdk.ApiStartSubmissionUploadResponse, started.json())
    assert token not in upload.create_url and upload.create_url.startswith(running.url)
    data = submission(key, wrong=11, seed=11)
    assert httpx.put(upload.create_url, content=data).status_code == 200
    again = httpx.put(upload.create_url, content=b"other")
    assert again.status_code == 409 and again.json()["message"] == "this upload URL has been used already: submit again"
    theirs = rpc(running, "CreateSubmission", {"competitionName": name, "blobFileTokens": upload.token}, "cat",
                 tokens["cat"])
    assert theirs.status_code == 403 and theirs.json()["message"] == "this upload was started by another member"
    created = conforms(sdk.ApiCreateSubmissionResponse, ask("CreateSubmission", {
        "competitionName": name, "blobFileTokens": upload.token, "submissionDescription": "via rpc"}).json())
    assert created.message.startswith(f"Successfully submitted to {name}: submission {created.ref}")
    big = ask("StartSubmissionUpload", {"competitionName": name, "fileName": "big.csv", "contentLength": MAX_BYTES + 1})
    assert big.status_code == 413 and big.json()["message"] == \
        f"file of {MAX_BYTES + 1:,} bytes, over the limit of {MAX_BYTES:,} bytes"
    lying = ask("StartSubmissionUpload", {"competitionName": name, "fileName": "s.csv", "contentLength": 9}).json()
    assert httpx.put(lying["createUrl"], content=b"x" * (MAX_BYTES + 1)).status_code == 413, "the PUT is bounded too"
    reused = ask("CreateSubmission", {"competitionName": name, "blobFileTokens": upload.token})
    assert reused.status_code == 404 and reused.json()["code"] == 404, "a ticket submits once"
    got = conforms(sdk.ApiSubmission, ask("GetSubmission", {"ref": created.ref}).json())
    assert got.public_score and got.private_score == "" and got.description == "via rpc"
    assert rpc(running, "GetSubmission", {"ref": created.ref}, "cat", tokens["cat"]).status_code == 404, \
        "another team's submission is not found"
    listed = conforms(sdk.ApiListSubmissionsResponse, ask("ListSubmissions", {"competitionName": name}).json())
    assert listed.submissions[0].ref == created.ref
    conforms(sdk.ApiSubmissionLimits, ask("GetSubmissionLimits", {"competitionName": name}).json())
    board = conforms(sdk.ApiGetLeaderboardResponse, ask("GetLeaderboard", {"competitionName": name}).json())
    ours = running.get("/api/leaderboard").json()["teams"]
    assert [(s.team_name, s.score) for s in board.submissions] == [(t["team"], f"{t['public']:.6f}") for t in ours]
    files = conforms(sdk.ApiListDataFilesResponse,
                     ask("ListDataFiles", {"competitionName": name, "pageSize": 3}).json())
    assert [f.name for f in files.files] == ["classes.csv", "competition.json", "images/test/0.png"]
    assert files.next_page_token == "3"
    found = conforms(sdk.ApiListCompetitionsResponse, ask("ListCompetitions", {}).json())
    assert [c.ref for c in found.competitions] == [name] and found.competitions[0].max_daily_submissions == 2
    moved = ask("DownloadDataFiles", {"competitionName": name})
    assert moved.status_code == 302 and moved.headers["location"].endswith(f"/{name}.zip")
    assert httpx.get(moved.headers["location"], timeout=60).status_code == 403, "the data needs a member's key"
    fetched = httpx.get(moved.headers["location"], auth=(member, token), timeout=60)
    assert fetched.status_code == 200 and int(fetched.headers["content-length"]) == len(fetched.content)
    lb = ask("DownloadLeaderboard", {"competitionName": name})
    assert lb.headers["content-type"] == "application/zip"
    unknown = ask("GetCompetition", {"competitionName": name})
    assert unknown.status_code == 404 and set(unknown.json()) == {"code", "message", "error"}


def test_absolute_form_targets_and_kaggle_config(grader, tmp_path):
    running, _ = grader
    config = host(running.db, "kaggle-config", "--member", "ann", "--url", running.url)
    assert config.returncode == 0, config.stderr
    lines = config.stdout.splitlines()
    given = json.loads(lines[2])
    assert lines[4:6] == ["export KAGGLE_API_ENVIRONMENT=LOCALHOST", f"export HTTP_PROXY={running.url}"]
    assert Store(running.db).member_of(given["key"])["member"] == given["username"] == "ann"
    with httpx.Client(proxy=running.url) as proxied:  # the target goes out as http://localhost/api/v1/...
        answer = proxied.post("http://localhost" + RPC + "GetSubmissionLimits",
                              json={"competitionName": running.data.name}, auth=(given["username"], given["key"]))
    assert answer.status_code == 200 and conforms(sdk.ApiSubmissionLimits, answer.json())
    assert given["key"] not in running.output()
    again = host(running.db, "kaggle-config", "--member", "ann", "--url", running.url, "--token", given["key"])
    assert json.loads(again.stdout.splitlines()[2]) == given, "the current token, not a new one"
    wrong = host(running.db, "kaggle-config", "--member", "alice", "--url", running.url, "--token", given["key"])
    assert (wrong.returncode, wrong.stderr) == (1, "error: --token: not 'alice''s current token (leave it out to make "
                                                   "a new one)\n")


def test_after_the_end_a_file_is_refused_and_private_scores_show(grader, key, tmp_path):
    running, tokens = grader  # the module's last test: it ends the competition
    ended = host(running.db, "reveal")
    assert ended.returncode == 0, ended.stderr
    before = Store(running.db).submissions()
    path = tmp_path / "late.csv"
    path.write_bytes(submission(key, wrong=20, seed=20))
    late = kaggle(running, tmp_path, "alice", tokens["alice"], "competitions", "submit", running.data.name,
                  "-f", str(path), "-m", "too late")
    assert late.returncode == 1 and "the competition has ended: uploads are closed" in late.stderr, late.stderr
    assert Store(running.db).submissions() == before
    listed = rpc(running, "ListSubmissions", {"competitionName": running.data.name}, "alice", tokens["alice"]).json()
    rows = {row["id"]: row for row in before}
    assert all(s["privateScore"] == f"{rows[s['ref']]['private']:.6f}" for s in listed["submissions"]
               if s["status"] == "COMPLETE")
