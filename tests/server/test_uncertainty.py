"""Scores with their uncertainty on the grader server: intervals and tiers on the live board and in
the export, the shake-up at the end, and the Ladder's public board; a real server, real files."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from competition.server.store import Store
from tests.helpers import Server, host

pytestmark = pytest.mark.usefixtures("clear_of_midnight")  # quotas follow the real UTC day


def crafted(key: pd.DataFrame, public_wrong: int, private_wrong: int = 0) -> bytes:
    """A submission wrong on exactly the first ``public_wrong`` public rows and the first
    ``private_wrong`` private rows (in the key's order): its per-row outcomes are known."""
    labels = key["class"].to_numpy().copy()
    for usage, wrong in (("Public", public_wrong), ("Private", private_wrong)):
        rows = np.flatnonzero(key["Usage"].to_numpy() == usage)[:wrong]
        labels[rows] = [str((int(v) + 1) % 10) for v in labels[rows]]
    return pd.DataFrame({"id": key["id"], "class": labels}).to_csv(index=False).encode()


# team -> (wrong public rows, wrong private rows): two the paired test cannot tell apart on the
# public rows (one row differs), two it separates from them (15 rows all wrong); privately the order turns
TEAMS = {"leader": (0, 12), "close": (1, 0), "far": (15, 1), "farther": (16, 13)}


@pytest.fixture(scope="module")
def served(fashion_small, key, tmp_path_factory):
    folder = tmp_path_factory.mktemp("uncertain")
    db = folder / "grader.sqlite"
    tokens = {team: Store(db).add_team(team) for team in TEAMS}
    server = Server(fashion_small, db)
    for team, (public, private) in TEAMS.items():
        assert server.upload(tokens[team], crafted(key, public, private)).status_code == 201
    yield server, db
    server.stop()


def wilson(correct: int, rows: int) -> tuple[float, float]:
    return proportion_confint(correct, rows, alpha=0.05, method="wilson")


def test_the_board_gives_each_team_its_interval_and_tier(served, key):
    server, _ = served
    board = server.get("/api/leaderboard").json()
    public_rows = int((key["Usage"] == "Public").sum())
    assert public_rows >= 20
    lines = {line["team"]: line for line in board["teams"]}
    assert [line["team"] for line in board["teams"]] == list(TEAMS)
    for team, (wrong, _) in TEAMS.items():
        low, high = wilson(public_rows - wrong, public_rows)
        assert lines[team]["public_low"] == pytest.approx(low) and lines[team]["public_high"] == pytest.approx(high)
        assert lines[team]["public_low"] <= lines[team]["public"] <= lines[team]["public_high"] + 1e-12
        assert "private_low" not in lines[team]
    assert {team: lines[team]["tier"] for team in TEAMS} == {"leader": 1, "close": 1, "far": 2, "farther": 2}
    page = server.get("/").text
    assert page.count('class="tier-1') == 2 and page.count('class="tier-2') == 2
    low, high = wilson(public_rows, public_rows)
    assert f"{low:.4f}" in page


def test_the_export_and_the_ended_board_carry_intervals_tiers_and_the_shakeup(served, key, tmp_path):
    from scipy.stats import kendalltau, spearmanr

    server, db = served
    early = host(db, "export", "--out", str(tmp_path / "early"))
    assert early.returncode == 0, early.stderr
    provisional = pd.read_csv(tmp_path / "early" / "standings.csv")
    for column in ("public_low", "public_high", "private_low", "private_high", "tier"):
        assert column in provisional.columns
    assert provisional["private_low"].isna().all() and list(provisional["tier"]) == [1, 1, 2, 2]
    assert not (tmp_path / "early" / "shakeup.json").exists()

    _, token = Store(db).rotate_token("farther")  # a final pick that is not its best public submission
    picked = server.upload(token, crafted(key, 20, TEAMS["farther"][1])).json()["id"]
    Store(db).select("farther", picked, True, 2)
    assert host(db, "reveal").returncode == 0
    board = server.get("/api/leaderboard").json()["teams"]
    private_rows = int((key["Usage"] == "Private").sum())
    order = ["close", "far", "leader", "farther"]  # by private rows wrong: 0, 1, 12, 13
    assert [line["team"] for line in board] == order
    assert [line["tier"] for line in board] == [1, 1, 2, 2], "the tiers of the private scores"
    for line in board:
        low, high = wilson(private_rows - TEAMS[line["team"]][1], private_rows)
        assert (line["private_low"], line["private_high"]) == (pytest.approx(low), pytest.approx(high))
    assert "Shake-up:" in server.get("/").text and "the public #1 finished #3" in server.get("/").text

    outs = [tmp_path / "final", tmp_path / "again"]
    for out in outs:
        done = host(db, "export", "--out", str(out))
        assert done.returncode == 0, done.stderr
    for name in ("standings.csv", "shakeup.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), f"{name}: the same data, other bytes"
    final = pd.read_csv(outs[0] / "standings.csv")
    assert list(final["team"]) == order and list(final["tier"]) == [1, 1, 2, 2]
    assert ((final["private_low"] <= final["private"]).all()
            and (final["private"] <= final["private_high"] + 1e-12).all())
    assert (final["public_low"] <= final["public"]).all() and final["public_high"].notna().all()
    public_rows = int((key["Usage"] == "Public").sum())
    farther = final.set_index("team").loc["farther"]  # the public score and interval of its final pick
    assert (farther["public_low"], farther["public_high"]) == pytest.approx(wilson(public_rows - 20, public_rows))
    shake = __import__("json").loads((outs[0] / "shakeup.json").read_text())
    public_ranks, private_ranks = [2, 3, 1, 4], [1, 2, 3, 4]
    assert shake["spearman"] == pytest.approx(spearmanr(public_ranks, private_ranks).statistic)
    assert shake["kendall"] == pytest.approx(kendalltau(public_ranks, private_ranks).statistic)
    assert shake["shakeup"] == pytest.approx((1 + 1 + 2 + 0) / 4 / 4)
    assert shake["moves"][2] == {"team": "leader", "public_rank": 1, "private_rank": 3}
    chances = {entry["team"]: entry["p_first"] for entry in shake["p_first"]}
    assert set(chances) == set(TEAMS) and sum(chances.values()) == pytest.approx(1.0)
    assert chances["close"] > 0.5 and chances["leader"] < 0.05 and chances["farther"] < 0.05
    assert (outs[0] / "shakeup.png").stat().st_size > 1000
    text = (outs[0] / "leaderboard.md").read_text()
    assert "A tier holds the teams" in text and "| 1 | 1 | [close]" in text


def kaggle_view(server: Server, name: str, member: str, token: str) -> dict:
    """The public scores the Kaggle routes show a member: its submissions (newest first), its first two
    one by one, and the board's by team."""
    auth = {"Authorization": "Basic " + base64.b64encode(f"{member}:{token}".encode()).decode()}

    def call(method: str, body: dict) -> dict:
        answer = httpx.post(f"{server.url}/api/v1/competitions.CompetitionApiService/{method}",
                            json={"competitionName": name, **body}, headers=auth, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    listed = call("ListSubmissions", {})["submissions"]
    first, second = sorted(row["ref"] for row in listed)[:2]
    return {"submissions": [row["publicScore"] for row in listed],
            "one": call("GetSubmission", {"ref": first})["publicScore"],
            "second": call("GetSubmission", {"ref": second})["publicScore"],
            "board": {line["teamName"]: line["score"] for line in call("GetLeaderboard", {})["submissions"]}}


def test_the_ladder_shows_a_new_public_score_only_when_it_beats_the_best_shown_by_the_step(fashion_small, key,
                                                                                          tmp_path):
    db = tmp_path / "grader.sqlite"
    token = Store(db).add_team("climber")
    other = Store(db).add_team("steady")
    public_rows = int((key["Usage"] == "Public").sum())
    step = 3 / public_rows  # three rows: two more right rows are no step up (they would round up), six are
    base = 6 + (public_rows - 6) % 3  # a score on the step's grid, so that rounding leaves it as it is
    server = Server(fashion_small, db, "--public-board", "ladder", "--ladder-step", f"{step!r}")
    try:
        def score(wrong):
            return (public_rows - wrong) / public_rows

        first = server.upload(token, crafted(key, base)).json()
        assert first["public"] == pytest.approx(score(base)) and "rounded" in first["ladder"]
        same = server.upload(token, crafted(key, base - 2)).json()
        assert same["public"] == first["public"] and "does not beat your best shown score" in same["ladder"]
        up = server.upload(token, crafted(key, 0)).json()
        assert up["public"] == pytest.approx(round(score(0) / step) * step) and up["public"] > first["public"]
        assert [line["team"] for line in server.get("/api/leaderboard").json()["teams"]] == ["climber"]
        assert server.upload(other, crafted(key, 4)).status_code == 201
        board = server.get("/api/leaderboard").json()["teams"]  # a new version: read again, not the cached board
        assert {line["team"]: line["public"] for line in board} == {
            "climber": pytest.approx(up["public"]), "steady": pytest.approx(round(score(4) / step) * step)}
        assert all(line["public_low"] is None and line["tier"] is None for line in board), "no interval leaks"
        mine = server.get("/api/submissions", token).json()["submissions"]
        assert [s["public"] for s in mine] == [first["public"], first["public"], up["public"]]
        assert "the Ladder" in server.get("/").text
        kaggle = kaggle_view(server, fashion_small.name, "climber", token)  # the Kaggle CLI's way in: the same ladder
        assert kaggle["submissions"] == [f"{s['public']:.6f}" for s in reversed(mine)]
        assert kaggle["one"] == f"{first['public']:.6f}" and kaggle["second"] == f"{first['public']:.6f}"
        assert kaggle["board"] == {line["team"]: f"{line['public']:.6f}" for line in board}
        assert host(db, "reveal").returncode == 0
        after = server.get("/api/submissions", token).json()["submissions"]
        assert [s["public"] for s in after] == pytest.approx([score(base), score(base - 2), score(0)]), \
            "the end shows all"
        assert kaggle_view(server, fashion_small.name, "climber", token)["second"] == f"{score(base - 2):.6f}"
        assert server.get("/api/leaderboard").json()["teams"][0]["tier"] == 1
    finally:
        server.stop()
    shown = host(db, "set")
    assert "--public-board  ladder" in shown.stdout and f"--ladder-step   {step}" in shown.stdout
    refused = host(db, "set", "--public-board", "stairs")
    assert refused.returncode != 0 and "invalid choice" in refused.stderr
