"""The ranking rules (competition/grade/standings.py) in memory, on hand-made rows: no file, no
server, no clock. Each rule the module's docstring states has its case here; ties are the point."""

from __future__ import annotations

import pytest

from competition.grade import ledger
from competition.grade.standings import files, rank, rank_of, ranked, team_standings, tied


def row(id: int, team: str, public: float, private: float | None = None, *, minute: int | None = None,
        selected: bool = False, status: str = "ok", late: bool = False, void_reason: str | None = None) -> dict:
    """One stored submission as the server keeps it; ``minute`` orders time (default: the id)."""
    return {"id": id, "team": team, "public": public, "private": public if private is None else private,
            "selected": int(selected), "status": status, "late": int(late), "void_reason": void_reason,
            "time": f"2026-01-01T10:{id if minute is None else minute:02d}:00Z"}


def teams(lines: list[dict]) -> list[str]:
    return [line["team"] for line in lines]


@pytest.mark.parametrize("higher_is_better, expected", [(True, [3, 1, 2]), (False, [1, 2, 3])])
def test_ranked_follows_the_metrics_direction_and_breaks_ties_by_time(higher_is_better, expected):
    entries = [{"id": 2, "public": 0.5, "time": "c"}, {"id": 1, "public": 0.5, "time": "b"},
               {"id": 3, "public": 0.9, "time": "a"}]
    assert [e["id"] for e in ranked(entries, higher_is_better)] == expected


def test_ranked_breaks_ties_by_each_key_in_turn():
    entries = [{"team": "bees", "public": 1, "reached": "t1"}, {"team": "ants", "public": 1, "reached": "t1"},
               {"team": "cats", "public": 1, "reached": "t0"}]
    assert teams(ranked(entries, True, ties=("reached", "team"))) == ["cats", "ants", "bees"]


@pytest.mark.parametrize("value, higher_is_better, expected", [
    (0.8, True, 2), (0.9, True, 1), (0.7, True, 4), (0.5, True, 5),  # equal values share the better rank
    (0.8, False, 2), (0.9, False, 4), (0.5, False, 1), (0.95, False, 5),
])
def test_rank_counts_the_values_that_beat_it(value, higher_is_better, expected):
    assert rank(value, [0.9, 0.8, 0.8, 0.7], higher_is_better) == expected


def test_files_ranks_counted_files_of_one_metric_only():
    entries = [{"event": "grade", "status": ledger.COUNTED, "public": 0.7, "time": "1", "sha256": "a"},
               {"event": "grade", "status": ledger.COUNTED, "public": 0.9, "time": "2", "sha256": "b",
                "metric": "f1_macro"},
               {"event": "grade", "status": "error", "public": 1.0, "time": "3", "sha256": "c"},
               {"event": "reveal", "time": "4"},
               {"event": "grade", "status": ledger.COUNTED, "public": 0.7, "time": "0", "sha256": "d",
                "metric": "accuracy"}]
    assert [e["sha256"] for e in files(entries, True, "accuracy")] == ["d", "a"], "an entry naming no metric: accuracy"
    assert [e["sha256"] for e in files(entries, True)] == ["b", "d", "a"]


def test_equal_best_scores_go_to_the_team_that_reached_it_first_then_the_name():
    rows = [row(1, "bees", 0.8, minute=5), row(2, "ants", 0.8, minute=5), row(3, "cats", 0.8, minute=1),
            row(4, "cats", 0.8, minute=9)]
    lines = team_standings(rows, False)
    assert teams(lines) == ["cats", "ants", "bees"] and [line["rank"] for line in lines] == [1, 2, 3]
    assert lines[0]["public_id"] == 3 and lines[0]["reached"] == row(3, "cats", 0.8, minute=1)["time"], \
        "a team's equal later score does not move the time it got there"
    assert tied(lines, "public") == {"ants", "bees", "cats"}


def test_failed_late_and_voided_rows_never_rank_nor_count():
    rows = [row(1, "ants", 0.6), row(2, "ants", 0.99, status="error"), row(3, "ants", 0.98, late=True),
            row(4, "ants", 0.97, void_reason="the same file as bees"), row(5, "bees", 0.7),
            row(6, "ghosts", 1.0, late=True)]
    for ended in (False, True):
        lines = {line["team"]: line for line in team_standings(rows, ended)}
        assert set(lines) == {"ants", "bees"}, "a team with no counted row has no line"
        assert (lines["ants"]["public"], lines["ants"]["submissions"], lines["ants"]["last"]) == \
            (0.6, 1, row(1, "ants", 0.6)["time"])


def test_at_the_end_picks_decide_by_private_score_and_no_pick_means_the_best_public():
    rows = [row(1, "ants", 0.9, 0.5), row(2, "ants", 0.7, 0.8, selected=True), row(3, "ants", 0.6, 0.95),
            row(4, "bees", 0.85, 0.85), row(5, "bees", 0.80, 0.90)]
    before, after = team_standings(rows, False), team_standings(rows, True)
    assert teams(before) == ["ants", "bees"] and "private" not in before[0]
    assert [(line["team"], line["private"], line["picks"]) for line in after] == [("bees", 0.85, [4]),
                                                                                  ("ants", 0.8, [2])]
    assert [line["public_rank"] for line in after] == [2, 1], "the public rank stays the public board's"
    assert after[1]["final_public"] == 0.7 and after[1]["final_id"] == 2


def test_equal_final_scores_go_to_the_earlier_final_submission():
    rows = [row(1, "ants", 0.7, 0.9, minute=30), row(2, "bees", 0.6, 0.9, minute=10)]
    assert teams(team_standings(rows, True)) == ["bees", "ants"]
    assert tied(team_standings(rows, True), "private") == {"ants", "bees"} and not tied(team_standings(rows, True),
                                                                                        "public")


def test_a_lower_is_better_metric_ranks_ascending_at_every_step():
    rows = [row(1, "ants", 0.30, 0.20, selected=True), row(2, "ants", 0.25, 0.35, selected=True),
            row(3, "bees", 0.10, 0.40)]
    before = team_standings(rows, False, higher_is_better=False)
    assert teams(before) == ["bees", "ants"] and before[1]["public"] == 0.25
    after = team_standings(rows, True, higher_is_better=False)
    assert [(line["team"], line["private"]) for line in after] == [("ants", 0.20), ("bees", 0.40)]


def test_the_tally_and_the_disabled_set_are_reported_as_given():
    rows = [row(1, "ants", 0.5), row(2, "bees", 0.6)]
    lines = {line["team"]: line for line in team_standings(rows, False, disabled={"bees"},
                                                           tally={"ants": (7, "late"), "bees": (1, "t")})}
    assert (lines["ants"]["submissions"], lines["ants"]["last"], lines["ants"]["disabled"]) == (7, "late", False)
    assert lines["bees"]["disabled"] and rank_of("bees", list(lines.values())) == 1
    assert rank_of("cats", list(lines.values())) is None


def test_no_rows_no_lines_and_none_scores_are_never_tied():
    assert team_standings([], False) == [] == team_standings([], True)
    assert tied([{"team": "a", "private": None}, {"team": "b", "private": None}], "private") == set()
