"""The gradebook: one row per roster member, for a teacher who grades from the export.

``standings.csv`` holds the teams that scored; a teacher grading a class needs everyone on the
roster, those who never submitted included and marked. Pure: it reads the roster (team ->
members), the standing lines of ``export.results`` and every submission, and writes nothing.
The intervals and the tier come from the standing lines when the uncertainty side provides them
(``line.get``); the cells stay empty otherwise.
"""

from __future__ import annotations

COLUMNS = ("student", "team", "rank", "score", "standing", "tier", "public_low", "public_high", "private_low",
           "private_high", "member_submissions", "team_submissions", "picks", "disabled", "note")
INTERVAL = ("tier", "public_low", "public_high", "private_low", "private_high")


def gradebook(roster: dict[str, list[str]], lines: list[dict], rows: list[dict], ended: bool) -> list[dict]:
    """One row per member of ``roster``, in team then roster order. ``score``: the team's final
    private score at the end, its best public score before; ``member_submissions`` and
    ``team_submissions``: scored uploads (failed ones left out, voided ones included: they were
    made); ``picks``: ``picked`` when the team chose its final picks, ``fallback`` when it did not
    (its best public submission stands in), empty for a team that never scored; ``note`` says
    who has no submission."""
    by_team = {line["team"]: line for line in lines}
    scored: dict[tuple[str, str], int] = {}
    for row in rows:
        if row["status"] == "ok":
            scored[row["team"], row["member"]] = scored.get((row["team"], row["member"]), 0) + 1
    book = []
    for team in sorted(roster):
        line = by_team.get(team)
        team_count = sum(n for (t, _), n in scored.items() if t == team)
        for member in roster[team]:
            mine = scored.get((team, member), 0)
            note = ("the team made no scored submission" if team_count == 0 else
                    "the team has no ranked submission" if line is None else
                    "made no scored submission (the team did)" if mine == 0 else "")
            book.append({"student": member, "team": team,
                         "rank": line["rank"] if line else None,
                         "score": (line["private"] if ended else line["public"]) if line else None,
                         "standing": ("final" if ended else "provisional") if line else "unranked",
                         **{key: line.get(key) if line else None for key in INTERVAL},
                         "member_submissions": mine, "team_submissions": team_count,
                         "picks": line.get("picks_kind") if line else None,
                         "disabled": bool(line and line.get("disabled")), "note": note})
    return book
