"""The Ladder (Blum & Hardt, "The Ladder: A Reliable Leaderboard for Machine Learning
Competitions", ICML 2015): ``serve --public-board ladder [--ladder-step S]``.

A team's new public score is shown only when it beats the best score shown for the team by more
than the step, and then rounded to the step; otherwise the team is shown its best shown score
again. A team that probes the public rows with many small changes learns almost nothing from
them, so the public board stops rewarding overfitting to it. Pure functions over stored rows: what
was shown is recomputed from the submissions in their order (a rescore recomputes it too). The
private board, the end and the host's views are unchanged.
"""

from __future__ import annotations

PLAIN, LADDER = "plain", "ladder"
BOARDS = (PLAIN, LADDER)
DEFAULT_STEP = 0.01


def rounded(value: float, step: float) -> float:
    """``value`` to the nearest multiple of ``step`` (a short decimal, not 0.8700000000000001)."""
    return round(round(value / step) * step, 12)


def shown(rows: list[dict], step: float, higher_is_better: bool) -> dict[int, float]:
    """Submission id -> the public score the Ladder showed for it, for every counted, on-time row
    of ``rows`` (any teams): per team, in the order of arrival (ids)."""
    best: dict[str, float] = {}
    found = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        if row["status"] != "ok" or row.get("late") or row.get("public") is None:
            continue
        score, before = row["public"], best.get(row["team"])
        if before is None or (score - before > step if higher_is_better else before - score > step):
            best[row["team"]] = rounded(score, step)
        found[row["id"]] = best[row["team"]]
    return found


def laddered(rows: list[dict], step: float, higher_is_better: bool) -> list[dict]:
    """Copies of ``rows`` with each counted row's public score replaced by the one shown."""
    scores = shown(rows, step, higher_is_better)
    return [{**row, "public": scores[row["id"]]} if row["id"] in scores else dict(row) for row in rows]


def note(shown_score: float, best_before: float | None, step: float) -> str:
    """What an upload's answer says of its shown score (``best_before``: the team's shown score
    before this upload)."""
    if best_before is not None and shown_score == best_before:
        return (f"public board: ladder (step {step:g}); this score does not beat your best shown score "
                f"{best_before:g} by more than the step, so the answer and the board show {best_before:g} again")
    return f"public board: ladder (step {step:g}); your new best is shown rounded to the step: {shown_score:g}"
