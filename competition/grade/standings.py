"""Standings: who ranks where. The one set of ranking rules for the local board (``leaderboard.md``
ranks files), a graded file's rank (``grade``), and the server's boards of teams (the live board,
an upload's answer, ``/api/leaderboard``) and its exported result (``server export``).

- A score ranks in its metric's direction (``metrics.Metric.higher_is_better``; log loss ascending).
- Among equal scores the one reached first ranks first: the earlier file, the team that reached its
  score first (then, for teams, the name). ``TIE_RULE`` says so wherever a board is shown, and
  ``tied`` marks the lines whose score another line shares.
- Only counted submissions rank: failed ones never, late ones (scored after the deadline) never,
  voided ones (the host's ``server void``) never, and late or voided ones are never picks. A local
  board ranks the files scored by its metric only (a ledger may hold files scored by another
  through ``grade --metric``; the board says how many it leaves out).
- Before the end a team stands by its best public score. At the end it stands by Kaggle's rule:
  the best private score among its final picks, or, when it picked none, the private score of its
  best-public submission.
"""

from __future__ import annotations

from . import ledger


def ranked(entries: list[dict], higher_is_better: bool, key: str = "public", ties: tuple[str, ...] = ("time",)
           ) -> list[dict]:
    """``entries`` best ``key`` first (ascending when lower is better), the earlier (by ``ties``,
    in turn) first among equals."""
    sign = -1 if higher_is_better else 1
    return sorted(entries, key=lambda e: (sign * e[key], *(e[tie] for tie in ties)))


def rank(value: float, values: list[float], higher_is_better: bool) -> int:
    """1 + how many of ``values`` beat ``value`` (ties share a rank): the rank a graded file, or a
    duplicate of one, is told."""
    return 1 + sum(1 for v in values if (v > value if higher_is_better else v < value))


def files(entries: list[dict], higher_is_better: bool, metric: str | None = None) -> list[dict]:
    """The counted ledger ``entries`` (those scored by ``metric`` when given), best public score
    first (``ranked``): the local board."""
    return ranked(ledger.graded(entries, metric), higher_is_better)


def team_standings(rows: list[dict], ended: bool, *, disabled: set[str] = frozenset(),
                   higher_is_better: bool = True, tally: dict[str, tuple[int, str]] | None = None) -> list[dict]:
    """Ranked lines, one per team with a counted submission: ``rank``, ``team``, ``public`` (best
    public) and ``public_id`` (its submission), ``submissions`` (counted), ``last``, ``reached``,
    ``disabled``, ``public_rank``; at the end also ``private`` (the final score), ``final_public``
    (the public score of the submission that gave it), ``final_id``, ``final_time`` and ``picks``.

    ``rows``: the server's stored submissions, every one, or only the candidates (each team's
    best-public row and its picks, ``Store.standing_rows``) with ``tally``: team -> (counted
    submissions, last time), which the candidates alone cannot tell."""
    teams: dict[str, list[dict]] = {}
    for row in rows:
        if row["status"] == "ok" and not row.get("late") and not row.get("void_reason"):
            teams.setdefault(row["team"], []).append(row)
    lines = []
    for team, counted in teams.items():
        best_public = ranked(counted, higher_is_better, "public", ("id",))[0]
        submitted, last = tally[team] if tally is not None else (len(counted), max(r["time"] for r in counted))
        line = {"team": team, "public": best_public["public"], "public_id": best_public["id"], "submissions": submitted,
                "last": last, "reached": best_public["time"], "disabled": team in disabled}
        if ended:
            picks = [r for r in counted if r["selected"]] or [best_public]
            final = ranked(picks, higher_is_better, "private", ("id",))[0]
            line.update(private=final["private"], final_public=final["public"], final_time=final["time"],
                        final_id=final["id"], picks=[r["id"] for r in picks])
        lines.append(line)
    by_public = ranked(lines, higher_is_better, "public", ("reached", "team"))
    for place, line in enumerate(by_public, start=1):
        line["public_rank"] = place
    lines = ranked(by_public, higher_is_better, "private", ("final_time", "team")) if ended else by_public
    for place, line in enumerate(lines, start=1):
        line["rank"] = place
    return lines


def rank_of(team: str, lines: list[dict]) -> int | None:
    """The team's rank on a board (None when it has no ranked submission)."""
    return next((line["rank"] for line in lines if line["team"] == team), None)


TIE_RULE = ("equal scores are marked '='; among them the team that reached its score first ranks first "
            "(then the name)")


def tied(lines: list[dict], key: str) -> set[str]:
    """The teams whose ``key`` score (``public`` before the end, ``private`` at it) equals another
    line's: a board marks them, so that equal scores read as equal whatever their ranks."""
    seen: dict[float, int] = {}
    for line in lines:
        if line.get(key) is not None:
            seen[line[key]] = seen.get(line[key], 0) + 1
    return {line["team"] for line in lines if line.get(key) is not None and seen[line[key]] > 1}
