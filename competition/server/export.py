"""The class result: ``python -m competition.server export --out DIR``.

DIR must be new or empty; everything is checked first (DIR, every kept file) and built in a hidden
folder beside DIR, which is renamed into place only when complete, so an export is whole or absent.
It holds:

- ``standings.csv``: rank, team, members, final private score, its public score, the picks and
  whether the team chose them (``picked``) or its best public submission stands in (``fallback``),
  the submissions counted, ``tied`` when another team has the same score (the one set of ranking
  rules: ``competition.grade.standings``, whose tie rule ``leaderboard.md`` prints);
- ``gradebook.csv``: one row per roster member, those without a submission marked (``gradebook``);
- ``sameness.csv``: pairs of submissions from different teams that agree on nearly every row
  (``sameness``);
- ``submissions.csv``: every submission, failed ones with their reasons, voided ones with the host's
  (every CSV through ``host_csv``: a student's message or name never runs as a spreadsheet formula);
- ``leaderboard.md``: the standings, then each team's entries, every link inside DIR;
- ``leaderboard.png``: a chart of the standings;
- ``files/``: the scored files.

Before the end the standings are marked provisional and private scores are withheld.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import clock
from ..data.tables import host_csv
from ..errors import InputError
from ..fsutil import check_new_or_empty, new_dir, write_picture
from ..grade.standings import TIE_RULE, team_standings, tied
from . import gradebook, sameness
from .store import Store

SUBMISSION_COLUMNS = ("id", "team", "member", "time", "file", "name", "message", "status", "error", "public",
                      "private", "late", "selected", "voided", "void_reason")
STANDING_COLUMNS = ("rank", "team", "members", "private", "public", "picks", "picks_kind", "submissions", "tied",
                    "standing", "disabled")


def markdown(text) -> str:
    """Text safe in a Markdown table cell: no HTML, no links, no table breaks."""
    text = "" if text is None else str(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for char in "\\`*_[]()|#!":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def kept_name(row: dict) -> str:
    return f"{row['id']:05d}-{row['sha256'][:12]}.csv"


def score(value) -> str:
    return "" if value is None else f"{value:.4f}"


def results(store: Store, ended: bool) -> tuple[list[dict], list[dict]]:
    """(standing lines with their members, every submission as exported): pure reads of the store,
    ranked in the direction of the competition's metric (recorded by ``serve``)."""
    members = store.members()
    lines = team_standings(store.submissions(), ended, disabled=store.disabled(),
                           higher_is_better=store.settings().get("higher_is_better", True))
    chosen = {row["team"] for row in store.submissions() if row["selected"] and row["status"] == "ok"
              and not row["late"] and not row["void_reason"]}
    equal = tied(lines, "private" if ended else "public")
    for line in lines:
        line["members"] = "; ".join(members.get(line["team"], []))
        line["picks_kind"] = "picked" if line["team"] in chosen else "fallback" if ended else "none yet"
        line["tied"] = line["team"] in equal
        line["standing"] = "final" if ended else "provisional"
        if not ended:
            line["private"] = None
        else:
            line["public"] = line["final_public"]
        line["picks"] = " ".join(map(str, line.get("picks", [])))
    rows = [{**row, "file": f"files/{kept_name(row)}" if row["status"] == "ok" else "",
             "private": row["private"] if ended else None, "late": bool(row["late"]), "selected": bool(row["selected"]),
             "voided": bool(row["void_reason"])}
            for row in store.submissions()]
    return lines, rows


def render(title: str, lines: list[dict], rows: list[dict], ended: bool, metric: str = "accuracy") -> str:
    when = clock.iso(clock.now())
    head = (f"# Final standings — {markdown(title)}\n\nThe competition has ended. Each team is ranked by the private "
            f"score of its final picks (of its best public submission when it picked none). Exported {when}.\n"
            if ended else
            f"# Provisional standings — {markdown(title)}\n\nThe competition has not ended: teams are ranked by "
            f"their best public score and private scores are withheld. Exported {when}.\n")
    out = [head, "![standings](leaderboard.png)\n",
           f"Scores are {markdown(metric)}. Ties: {TIE_RULE}."
           + (" Picks: *picked* when the team chose its final picks, *fallback* when its best public submission "
              "stood in." if ended else "") + "\n",
           "| rank | team | members | private | public | picks | entries |", "|---:|---|---|---:|---:|---|---:|"]
    anchors = {line["team"]: f"team-{n}" for n, line in enumerate(lines, start=1)}
    for line in lines:
        mark = " (disabled)" if line["disabled"] else ""
        tie = "= " if line.get("tied") else ""
        out.append(f"| {tie}{line['rank']} | [{markdown(line['team'])}](#{anchors[line['team']]}){mark} | "
                   f"{markdown(line['members'])} | {score(line['private']) or 'hidden'} | {score(line['public'])} | "
                   f"{markdown(line['picks_kind']) if ended else ''} | {line['submissions']} |")
    if not lines:
        out.append("| | no submission was scored | | | | | |")
    teams = [line["team"] for line in lines] + sorted({r["team"] for r in rows} - set(anchors))
    for n, team in enumerate(teams, start=len(anchors) + 1):
        anchors.setdefault(team, f"team-{n}")
    for team in teams:
        out += ["", f'<a id="{anchors[team]}"></a>', "", f"## {markdown(team)}", "",
                "| # | time | member | file | status | public | private | pick | note |",
                "|---:|---|---|---|---|---:|---:|---|---|"]
        for row in (r for r in rows if r["team"] == team):
            link = f"[{markdown(row['name'])}]({row['file']})" if row["file"] else markdown(row["name"])
            status = row["status"] + (" (late)" if row["late"] else "") + (" (voided)" if row["voided"] else "")
            note = (row["error"] if row["status"] != "ok" else
                    f"voided by the host: {row['void_reason']}" if row["voided"] else row["message"])
            out.append(f"| {row['id']} | {row['time']} | {markdown(row['member'])} | {link} | {status} | "
                       f"{score(row['public'])} | {score(row['private'])} | {'yes' if row['selected'] else ''} | "
                       f"{markdown(note)} |")
    return "\n".join(out) + "\n"


def draw(lines: list[dict], ended: bool, path: Path, title: str, metric: str = "accuracy") -> None:
    """A horizontal bar chart of the standings (the final private score, or the public one before the end)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "private" if ended else "public"
    shown = lines[:30]
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.35 * max(1, len(shown))), dpi=100)
    if shown:
        scores = [line[key] for line in shown]
        labels = [f"{line['rank']}. {line['team']}{' (disabled)' if line['disabled'] else ''}".replace("$", r"\$")
                  for line in shown]  # no mathtext
        bars = ax.barh(range(len(shown)), scores, color=["#c9a227" if i == 0 else "#4c72b0" for i in range(len(shown))])
        ax.set_yticks(range(len(shown)), labels)
        ax.invert_yaxis()
        low, high = min(scores), max(scores)
        ax.set_xlim(max(0.0, low - (high - low) * 0.5 - 0.01), high + (high - low) * 0.15 + 0.01)
        for bar, value in zip(bars, scores):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value:.4f}", va="center", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no submission was scored", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    ax.set_xlabel(f"{key} {metric}" + ("" if ended else " (provisional: the competition has not ended)"))
    ax.set_title(f"{'Final' if ended else 'Provisional'} standings — {title.replace('$', chr(92) + '$')}"
                 + (f" (top {len(shown)} of {len(lines)})" if len(lines) > len(shown) else ""))
    fig.tight_layout()
    write_picture(path, fig, tight=False)


def export(store: Store, out: Path, title: str) -> Path:
    """Write the class result into the new or empty folder ``out``; return it."""
    out = Path(out)
    check_new_or_empty(out, "--out")
    ended = store.ended()
    lines, rows = results(store, ended)
    kept = [(store.files / f"{row['sha256']}.csv", kept_name(row)) for row in rows if row["status"] == "ok"]
    missing = [str(source) for source, _ in kept if not source.is_file()]
    if missing:
        raise InputError(f"{missing[0]}: a scored submission's kept file is missing ({len(missing)} in all); "
                         f"nothing was written")
    with new_dir(out, "--out") as build:
        (build / "files").mkdir()
        for source, name in kept:
            shutil.copyfile(source, build / "files" / name)
        (build / "standings.csv").write_text(host_csv(STANDING_COLUMNS, lines), encoding="utf-8")
        (build / "submissions.csv").write_text(host_csv(SUBMISSION_COLUMNS, rows), encoding="utf-8")
        book = gradebook.gradebook(store.members(), lines, rows, ended)
        (build / "gradebook.csv").write_text(host_csv(gradebook.COLUMNS, book), encoding="utf-8")
        alike = sameness.pairs(store.submissions(), store.files)
        (build / "sameness.csv").write_text(host_csv(sameness.COLUMNS, alike), encoding="utf-8")
        metric = store.settings().get("metric", "accuracy")
        (build / "leaderboard.md").write_text(render(title, lines, rows, ended, metric), encoding="utf-8")
        draw(lines, ended, build / "leaderboard.png", title, metric)
    return out
