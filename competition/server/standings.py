"""The class's standings: one line per team, from its stored submissions. One rule for the
live board, an upload's answer, ``/api/leaderboard`` and the exported result.

Before the end a team stands by its best public score. At the end it stands by Kaggle's rule: the
best private score among its final picks, or, when it picked none, the private score of its
best-public submission. Among equal scores the team that reached its score first ranks first.
Late submissions (scored after the deadline) never rank and are never picks.
"""

from __future__ import annotations


def _better(higher_is_better: bool):
    sign = -1 if higher_is_better else 1
    return lambda score: sign * score


def team_standings(rows: list[dict], ended: bool, *, disabled: set[str] = frozenset(),
                   higher_is_better: bool = True, tally: dict[str, tuple[int, str]] | None = None) -> list[dict]:
    """Ranked lines: ``rank``, ``team``, ``public`` (best public), ``submissions`` (counted),
    ``last``, ``reached``, ``disabled``; at the end also ``private`` (the final score), ``final_public``
    (the public score of the submission that gave it), ``picks`` and ``public_rank``.

    ``rows``: every submission, or only the candidates (each team's best-public row and its picks,
    ``Store.standing_rows``) with ``tally``: team -> (counted submissions, last time), which the
    candidates alone cannot tell."""
    order = _better(higher_is_better)
    teams: dict[str, list[dict]] = {}
    for row in rows:
        if row["status"] == "ok" and not row.get("late"):
            teams.setdefault(row["team"], []).append(row)
    lines = []
    for team, counted in teams.items():
        best_public = min(counted, key=lambda r: (order(r["public"]), r["id"]))
        submitted, last = tally[team] if tally is not None else (len(counted), max(r["time"] for r in counted))
        line = {"team": team, "public": best_public["public"], "submissions": submitted,
                "last": last, "reached": best_public["time"],
                "disabled": team in disabled}
        if ended:
            picks = [r for r in counted if r["selected"]] or [best_public]
            final = min(picks, key=lambda r: (order(r["private"]), r["id"]))
            line.update(private=final["private"], final_public=final["public"], final_time=final["time"],
                        picks=[r["id"] for r in picks])
        lines.append(line)
    by_public = sorted(lines, key=lambda l: (order(l["public"]), l["reached"], l["team"]))
    for rank, line in enumerate(by_public, start=1):
        line["public_rank"] = rank
    if ended:
        lines.sort(key=lambda l: (order(l["private"]), l["final_time"], l["team"]))
    else:
        lines = by_public
    for rank, line in enumerate(lines, start=1):
        line["rank"] = rank
    return lines


def rank_of(team: str, lines: list[dict]) -> int | None:
    """The team's rank on a board (None when it has no ranked submission)."""
    return next((line["rank"] for line in lines if line["team"] == team), None)
