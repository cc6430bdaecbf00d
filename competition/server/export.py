"""The class result: ``python -m competition.server export --out DIR``.

DIR must be new or empty; everything is checked first (DIR, every kept file) and built in a hidden
folder beside DIR, which is renamed into place only when complete, so an export is whole or absent.
It holds:

- ``standings.csv``: rank, team, members, final private score, its public score, the picks and
  whether the team chose them (``picked``) or its best public submission stands in (``fallback``),
  the submissions counted, ``tied`` when another team has the same score (the one set of ranking
  rules: ``competition.grade.standings``, whose tie rule ``leaderboard.md`` prints), each score's
  interval and the team's tier (``boards.uncertain``, recomputed from the kept files and the key);
- ``gradebook.csv``: one row per roster member, those without a submission marked (``gradebook``);
- ``sameness.csv``: pairs of submissions from different teams that agree on nearly every row
  (``sameness``);
- ``submissions.csv``: every submission, failed ones with their reasons, voided ones with the host's
  (every CSV through ``host_csv``: a student's message or name never runs as a spreadsheet formula);
- ``leaderboard.md``: the standings, then each team's entries, every link inside DIR;
- ``leaderboard.png``: a chart of the standings, each score with its interval as an error bar;
- ``shakeup.json`` and ``shakeup.png`` (at the end): how far the private ranks moved from the
  public ones, and the top five teams' chances of private rank 1 (``shakeup``);
- ``files/``: the scored files.

Before the end the standings are marked provisional, private scores are withheld, and intervals and
tiers are the public ones. The same store gives byte-identical ``standings.csv`` and ``shakeup.json``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from .. import clock
from ..data import uncertainty
from ..data.tables import host_csv
from ..errors import InputError
from ..fsutil import check_new_or_empty, new_dir, write_picture
from ..grade.grader import Grader
from ..grade.standings import TIE_RULE, team_standings, tied
from . import gradebook, sameness
from .boards import KeptRows, uncertain
from .store import Store

SUBMISSION_COLUMNS = ("id", "team", "member", "time", "file", "name", "message", "status", "error", "public",
                      "private", "late", "selected", "voided", "void_reason")
STANDING_COLUMNS = ("rank", "team", "members", "private", "private_low", "private_high", "public", "public_low",
                    "public_high", "tier", "picks", "picks_kind", "submissions", "tied", "standing", "disabled")
TOP = 5  # teams whose chance of private rank 1 shakeup.json gives
TIER_SENTENCE = ("A tier holds the teams that a paired test on the same {part} rows ({confidence:g}% confidence, "
                 "Holm-corrected) cannot tell apart from the tier's first team: their order within a tier may be luck.")


def markdown(text) -> str:
    """Text safe in a Markdown table cell: no HTML, no links, no table breaks."""
    text = "" if text is None else str(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for char in "\\`*_[]()|#!":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def kept_name(row: dict) -> str:
    return f"{row['id']:05d}-{row['sha256'][:12]}.csv"


def table_score(value) -> str:
    """A score in the exported tables: four decimals, empty where there is none."""
    return "" if value is None else f"{value:.4f}"


def grader_of(store: Store) -> tuple[Grader, str]:
    """The served competition's grader, with the answer key ``serve`` or ``rescore`` recorded, and
    that key's sha256: intervals and tiers are recomputed from the kept files with it."""
    stored = store.settings()
    if not stored.get("data"):
        raise InputError(f"--db {store.path}: this grader has not served a competition yet; nothing was written")
    grader = Grader(Path(stored["data"]), Path(stored.get("solution") or stored["solution_default"]))
    return grader, hashlib.sha256(grader.solution_path.read_bytes()).hexdigest()


def scored(line: dict, part: str) -> str:
    """A score with its interval, ``0.9012 [0.8810, 0.9181]`` (the score alone without one)."""
    if line.get(part) is None:
        return ""
    low, high = line.get(f"{part}_low"), line.get(f"{part}_high")
    return table_score(line[part]) + (f" [{low:.4f}, {high:.4f}]" if low is not None else "")


def results(store: Store, ended: bool, graded: tuple[Grader, str] | None = None,
            kept: KeptRows | None = None, every: list[dict] | None = None) -> tuple[list[dict], list[dict]]:
    """(standing lines with their members, every submission as exported): reads of the store,
    ranked in the direction of the competition's metric (recorded by ``serve``). Each line has its
    intervals and tier (``boards.uncertain``: ``public_low``, ``public_high``, ``private_low``,
    ``private_high``, ``tier``), from ``graded`` (``grader_of(store)`` when not given) and the
    kept files; None in each for a store that never served a competition. ``every``: the store's
    submissions, when the caller has read them (one read serves the lines, the picks and the rows)."""
    every = store.submissions() if every is None else every
    members = store.members()
    lines = team_standings(every, ended, disabled=store.disabled(),
                           higher_is_better=store.settings().get("higher_is_better", True))
    chosen = {row["team"] for row in every if row["selected"] and row["status"] == "ok"
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
    graded = graded or (grader_of(store) if store.setting("data") else None)
    if graded is not None:
        grader, key_sha256 = graded
        lines = uncertain(lines, ended, grader, kept or KeptRows(store), key_sha256,
                          public_of="final_id" if ended else "public_id")
    for line in lines:
        for column in ("public_low", "public_high", "private_low", "private_high", "tier"):
            line.setdefault(column, None)
    rows = [{**row, "file": f"files/{kept_name(row)}" if row["status"] == "ok" else "",
             "private": row["private"] if ended else None, "late": bool(row["late"]), "selected": bool(row["selected"]),
             "voided": bool(row["void_reason"])}
            for row in every]
    return lines, rows


def render(title: str, lines: list[dict], rows: list[dict], ended: bool, metric: str = "accuracy") -> str:
    when = clock.iso(clock.now())
    head = (f"# Final standings — {markdown(title)}\n\nThe competition has ended. Each team is ranked by the private "
            f"score of its final picks (of its best public submission when it picked none). Exported {when}.\n"
            if ended else
            f"# Provisional standings — {markdown(title)}\n\nThe competition has not ended: teams are ranked by "
            f"their best public score and private scores are withheld. Exported {when}.\n")
    confidence = 100 * uncertainty.DEFAULT_CONFIDENCE
    out = [head, "![standings](leaderboard.png)\n",
           f"Scores are {markdown(metric)}. Each is shown with its {confidence:g}% interval [low, high]. "
           + TIER_SENTENCE.format(part="private" if ended else "public", confidence=confidence)
           + f" Ties: {TIE_RULE}."
           + (" Picks: *picked* when the team chose its final picks, *fallback* when its best public submission "
              "stood in." if ended else "") + "\n",
           "| rank | tier | team | members | private | public | picks | entries |",
           "|---:|---:|---|---|---:|---:|---|---:|"]
    anchors = {line["team"]: f"team-{n}" for n, line in enumerate(lines, start=1)}
    for line in lines:
        mark = " (disabled)" if line["disabled"] else ""
        tie = "= " if line.get("tied") else ""
        out.append(f"| {tie}{line['rank']} | {line.get('tier') or ''} | "
                   f"[{markdown(line['team'])}](#{anchors[line['team']]}){mark} | {markdown(line['members'])} | "
                   f"{scored(line, 'private') or 'hidden'} | {scored(line, 'public')} | "
                   f"{markdown(line['picks_kind']) if ended else ''} | {line['submissions']} |")
    if not lines:
        out.append("| | | no submission was scored | | | | | |")
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
                       f"{table_score(row['public'])} | {table_score(row['private'])} | "
                       f"{'yes' if row['selected'] else ''} | "
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
        lows = [line.get(f"{key}_low") for line in shown]
        highs = [line.get(f"{key}_high") for line in shown]
        errors = np.array([[0.0 if lo is None else max(0.0, value - lo) for value, lo in zip(scores, lows)],
                           [0.0 if hi is None else max(0.0, hi - value) for value, hi in zip(scores, highs)]])
        bars = ax.barh(range(len(shown)), scores, color=["#c9a227" if i == 0 else "#4c72b0" for i in range(len(shown))],
                       xerr=errors, error_kw={"ecolor": "#1d2330", "capsize": 3, "elinewidth": 1.2})
        ax.set_yticks(range(len(shown)), labels)
        ax.invert_yaxis()
        low = min([*scores, *(lo for lo in lows if lo is not None)])  # a store that never served: no intervals
        high = max([*scores, *(hi for hi in highs if hi is not None)])
        ax.set_xlim(max(0.0, low - (high - low) * 0.5 - 0.01), high + (high - low) * 0.15 + 0.01)
        for bar, value, top in zip(bars, scores, errors[1]):
            ax.text(bar.get_width() + top, bar.get_y() + bar.get_height() / 2, f" {value:.4f}", va="center", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no submission was scored", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    ax.set_xlabel(f"{key} {metric}, {100 * uncertainty.DEFAULT_CONFIDENCE:g}% intervals"
                  + ("" if ended else " (provisional: the competition has not ended)"))
    ax.set_title(f"{'Final' if ended else 'Provisional'} standings — {title.replace('$', chr(92) + '$')}"
                 + (f" (top {len(shown)} of {len(lines)})" if len(lines) > len(shown) else ""))
    fig.tight_layout()
    write_picture(path, fig, tight=False)


def finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def shakeup(lines: list[dict], graded: tuple[Grader, str], kept: KeptRows) -> dict:
    """The shake-up of an ended competition (``uncertainty.shakeup`` over the ranked teams' public
    and private ranks), every team's move, and the top five teams' chances of private rank 1 in a
    joint bootstrap over the private rows (each team by its final submission)."""
    grader, key_sha256 = graded
    found = (uncertainty.shakeup([line["public_rank"] for line in lines], [line["rank"] for line in lines])
             if len(lines) > 1 else {"spearman": None, "kendall": None, "shakeup": 0.0, "shakeup_top10": 0.0})
    truth, rows = kept.read(grader, key_sha256, {line["final_id"] for line in lines})
    known = [line for line in lines if rows.get(line["final_id"]) is not None]
    chances = uncertainty.p_first(grader.scorer, truth["private"],
                                  [rows[line["final_id"]]["private"] for line in known],
                                  len(grader.classes)) if known else []
    return {**{name: None if value is None else finite(value) for name, value in found.items()},
            "teams": len(lines),
            "moves": [{"team": line["team"], "public_rank": line["public_rank"], "private_rank": line["rank"]}
                      for line in lines],
            "p_first": [{"team": line["team"], "private_rank": line["rank"], "p_first": float(chance)}
                        for line, chance in list(zip(known, chances))[:TOP]]}


def draw_shakeup(found: dict, path: Path, title: str) -> None:
    """Public rank against private rank, one point a team, on the diagonal when it did not move."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    moves = found["moves"]
    n = max(1, len(moves))
    fig, ax = plt.subplots(figsize=(6.5, 6.5), dpi=100)
    ax.plot([1, n], [1, n], color="#999999", linewidth=1, zorder=1)
    if moves:
        ax.scatter([m["public_rank"] for m in moves], [m["private_rank"] for m in moves], color="#4c72b0", zorder=2)
        for move in moves[:10]:
            ax.annotate(move["team"].replace("$", r"\$"), (move["public_rank"], move["private_rank"]), fontsize=8,
                        xytext=(4, 2), textcoords="offset points")
    ax.set_xlim(0.5, n + 0.5)
    ax.set_ylim(n + 0.5, 0.5)
    ax.set_xlabel("public rank")
    ax.set_ylabel("private rank (final)")
    said = (f"Spearman {found['spearman']:.2f}, Kendall {found['kendall']:.2f}, shake-up {found['shakeup']:.3f}"
            if found["spearman"] is not None else "too few teams to compare ranks")
    ax.set_title(f"Shake-up — {title.replace('$', chr(92) + '$')}\n{said}", fontsize=10)
    fig.tight_layout()
    write_picture(path, fig, tight=False)


def export(store: Store, out: Path, title: str) -> Path:
    """Write the class result into the new or empty folder ``out``; return it."""
    out = Path(out)
    check_new_or_empty(out, "--out")
    ended = store.ended()
    graded, standing = grader_of(store) if store.setting("data") else None, KeptRows(store)
    every = store.submissions()  # read once: the standings, the rows and the sameness are of the same moment
    lines, rows = results(store, ended, graded, standing, every)
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
        alike = sameness.pairs(every, store.files)
        (build / "sameness.csv").write_text(host_csv(sameness.COLUMNS, alike), encoding="utf-8")
        metric = store.settings().get("metric", "accuracy")
        (build / "leaderboard.md").write_text(render(title, lines, rows, ended, metric), encoding="utf-8")
        draw(lines, ended, build / "leaderboard.png", title, metric)
        if ended and graded is not None:
            found = shakeup(lines, graded, standing)
            (build / "shakeup.json").write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
            draw_shakeup(found, build / "shakeup.png", title)
    return out
