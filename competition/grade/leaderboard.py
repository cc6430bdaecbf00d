"""``leaderboard.md`` (and ``leaderboard.png``), drawn from the ledger alone, so the same ledger
always gives the same files.

    python -m competition.leaderboard [--ledger submissions/ledger.jsonl] [--out leaderboard.md]

The table ranks counted submissions by public score in the competition's metric (ascending when
lower is better, as log loss), with each one's CV score in that metric beside it (files a
``grade --metric`` override scored by another metric are left out, and a line says how many), and, given the
answer key (``grade`` has it; ``leaderboard --data DIR``), each public score's interval and its
tier: the files a paired test cannot tell apart on the public rows (``competition.data.uncertainty``).
Below it: how well CV predicted public (Spearman rank correlation), the two suggested final picks
and the rule behind them (a tie in the public rows is said as a tie, never as skill), and once the
private scores are revealed, how the picks did there.

``bounds`` (``grade.local.public_bounds``): sha256 -> ``{"low", "high", "tier"}`` of each file
whose kept copy could be scored, recomputed from the kept files and the key at every draw.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

from .. import cli
from . import ledger, standings
from ..data import metrics, uncertainty
from ..errors import InputError
from ..fsutil import begins_with, check_regular_option, picture_bytes, write_bytes_atomic, write_text_atomic

STAR = "★"
HEADING = "# Leaderboard — "  # every leaderboard this module draws starts so: the mark that it may be redrawn
TIER_COLOURS = 5  # tiers drawn in a colour of their own; later ones in grey
NAMED = 3  # the best public scores named on the chart (besides the final picks); others by their rank
ZOOMED = 8  # the best public scores drawn again, zoomed, beside the whole field
NOTES_OPEN = "<!-- notes:"
NOTES_PATTERN = re.compile(rf"^{re.escape(NOTES_OPEN)} .* page (?P<page>[0-9a-f]{{64}})"
                           r"(?: chart (?P<chart>[0-9a-f]{64}))? -->$", re.MULTILINE)


def recipe_text(entry: dict, plain: dict[str, dict] | None = None) -> str:
    """``entry``'s recipe in a few words (``model_text``), read against ``plain`` (``plain_params``)."""
    recipe = entry.get("recipe") or {}
    if not recipe:
        return "-"
    text = model_text(recipe, plain)
    if recipe.get("limit"):
        text += f" [limit {recipe['limit']}]"
    return text.replace("|", "/")


def plain_params(entries: list[dict]) -> dict[str, dict]:
    """Each model's parameters in the newest recipe on the board that overrode none of them (a plain
    ``--model X``): the reading of the other recipes of that model. A recipe names what it overrode of
    the defaults of its own day, and defaults change between versions; read against this, an
    earlier default's run says what sets it apart ("cnn (epochs=24, flip=True, ...)") instead of
    reading "cnn" like today's. Drawn from the ledger alone, so the same ledger gives the same board."""
    plain = {}
    for entry in entries:  # the ledger's order: the newest last
        recipe = entry.get("recipe") or {}
        if recipe.get("params") and not recipe.get("overrides") and not recipe.get("members"):
            plain[recipe.get("model")] = recipe["params"]
    return plain


def model_text(recipe: dict, plain: dict[str, dict] | None = None) -> str:
    """A model and what sets it apart: what it overrode of its day's defaults, then any parameter
    whose value differs from its model's plain recipe on the board (``plain_params``). An ensemble's
    members read by their overrides alone (a member's record holds no parameters). Two runs of one
    model then read apart ("cnn + cnn (random_state=88)"), not as the same run twice."""
    text = recipe.get("model", "?")
    if recipe.get("members"):
        text += " of " + " + ".join(model_text(member) for member in recipe["members"])
    shown = dict(recipe.get("overrides") or {})
    reference, params = (plain or {}).get(recipe.get("model")), recipe.get("params") or {}
    if reference is not None:
        shown.update({key: value for key, value in params.items()  # as JSON: a NaN (xgb's missing) is itself
                      if key in reference and json.dumps(value) != json.dumps(reference[key])})
    if shown:
        text += " (" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")"
    if (recipe.get("seeds") or 1) > 1:
        text += f" [{recipe['seeds']} seeds]"
    if recipe.get("refit"):
        text += " [refit on all rows]"  # its test predictions are one model's, not the folds' mean
    return text


def board_metric(entries: list[dict], metric: str | None = None) -> metrics.Metric:
    """The metric a board ranks by: ``metric``, else the newest counted entry's (accuracy if none)."""
    graded = ledger.graded(entries)
    return metrics.get(metric or (graded[-1].get("metric", metrics.DEFAULT) if graded else metrics.DEFAULT))


def pooled(entry: dict) -> float | None:
    """CV and public score pooled by the rows behind each: the best single estimate of the hidden
    score, since both are measured on independent rows (exactly so for a mean over rows such as
    accuracy or log loss, nearly so for the others)."""
    cv = ledger.cv_score(entry)
    if not cv:
        return None
    n_cv, n_public = entry["cv"].get("oof_rows", 0), entry.get("public_rows", 0)
    if n_cv + n_public == 0:
        return (cv[0] + entry["public"]) / 2
    return (n_cv * cv[0] + n_public * entry["public"]) / (n_cv + n_public)


def tier_of(entry: dict, bounds: dict | None) -> int | None:
    return ((bounds or {}).get(entry["sha256"]) or {}).get("tier")


def final_picks(rows: list[dict], scorer: metrics.Metric = metrics.get(metrics.DEFAULT),
                bounds: dict | None = None) -> list[tuple[dict, str]]:
    """Two finals: the best CV score, and the best pooled CV+public estimate among the others
    (best in ``scorer``'s direction). With ``bounds``, a pick tied on the public rows with the
    public leader or with the other pick says so: the public gap between them is no skill."""
    with_cv = [e for e in rows if ledger.cv_score(e)]
    if not with_cv:
        if not rows:
            return []
        tied = [e for e in rows[1:]
                if tier_of(e, bounds) is not None and tier_of(e, bounds) == tier_of(rows[0], bounds)]
        why = "best public score (no submission has a CV score)"
        if tied:
            why += (f"; tied on the public rows with {len(tied)} other file(s) in tier 1, so its lead is no proof of "
                    "skill: it is picked only because nothing else tells them apart")
        return [(rows[0], why)]
    first = min(with_cv, key=lambda e: (scorer.loss(ledger.cv_score(e)[0]), scorer.loss(e["public"])))
    why = "best CV score: the estimate on the most rows, and one the public board cannot have flattered"
    leader = rows[0]
    if leader is not first and tier_of(first, bounds) is not None:
        if tier_of(first, bounds) == tier_of(leader, bounds):
            why += (f"; the public #1 ({leader['name']}) is tied with it on the public rows (tier "
                    f"{tier_of(first, bounds)}: the paired test cannot tell them apart), so its public lead is noise "
                    "and no reason to prefer it")
        elif tier_of(leader, bounds) is not None:
            why += (f"; note that the public #1 ({leader['name']}, tier {tier_of(leader, bounds)}) is ahead of it by "
                    f"more than noise (tier {tier_of(first, bounds)}) on the public rows")
    picks = [(first, why)]
    others = [e for e in with_cv if e is not first]
    if others:
        second = min(others, key=lambda e: scorer.loss(pooled(e)))
        why = ("best CV and public pooled by their row counts, among the others: a hedge that gives the public "
               "rows exactly their statistical weight, no more")
        if tier_of(second, bounds) is not None and tier_of(second, bounds) == tier_of(first, bounds):
            why += (f"; the two picks are tied on the public rows (both tier {tier_of(first, bounds)}): neither is "
                    "the better by skill there, and this one is picked as a second, different bet, not as an "
                    "improvement")
        picks.append((second, why))
    return picks


def rank_correlation(rows: list[dict]) -> str:
    pairs = [(ledger.cv_score(e)[0], e["public"]) for e in rows if ledger.cv_score(e)]
    if len(pairs) < 3:
        return f"needs at least 3 submissions with a CV score (has {len(pairs)})"
    from scipy.stats import spearmanr

    rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    return f"Spearman rank correlation between CV and public over {len(pairs)} submissions: **{rho:.3f}**"


def table(rows: list[dict], reveal: bool, base: Path, metric: str = metrics.DEFAULT, bounds: dict | None = None,
          confidence: float = uncertainty.DEFAULT_CONFIDENCE) -> list[str]:
    plain = plain_params(sorted(rows, key=lambda e: (e["time"], e.get("id", 0))))
    shown = bounds is not None  # the interval and tier columns, when the key was at hand
    lines = [f"| rank | submission | recipe | CV {metric} | public |"
             + (f" public {confidence:.0%} | tier |" if shown else "") + " private | public − CV | date | sha256 |",
             "|---:|---|---|---|---:|" + ("---|---:|" if shown else "") + "---:|---:|---|---|"]
    for rank, e in enumerate(rows, start=1):
        cv = ledger.cv_score(e)
        cv_text = f"{cv[0]:.4f} ± {cv[1]:.4f}" if cv else "-"
        gap = f"{e['public'] - cv[0]:+.4f}" if cv else "-"
        link = os.path.relpath(e["file"], base) if not os.path.isabs(e["file"]) else e["file"]
        mark = f" {STAR}" if rank == 1 else ""
        private = ("hidden" if not reveal else f"{e['private']:.4f}" if e.get("private") is not None else "unknown")
        known = (bounds or {}).get(e["sha256"])
        interval = (f" [{known['low']:.4f}, {known['high']:.4f}] | {known['tier']} |" if known
                    else " - | - |") if shown else ""
        recipe = recipe_text(e, plain)
        lines.append(f"| {rank}{mark} | [{e['name']}]({link}) | {recipe} | {cv_text} | {e['public']:.4f} |"
                     f"{interval} {private} | {gap} | {e['time'][:10]} | `{e['sha256'][:8]}` |")
    return lines


def tiers_text(bounds: dict | None, public_rows: int | None, confidence: float) -> str:
    """What the interval and tier columns mean, or how to get them."""
    if bounds is None:
        return ("Intervals and tiers need the answer key: `grade` draws them, or "
                "`python -m competition.leaderboard --data DIR`.")
    rows = f"{public_rows:,} " if public_rows else ""
    return (f"Each public score's {confidence:.0%} interval is its sampling noise on the {rows}public rows. **Tier** 1 "
            "is the best file and every file the paired test cannot tell apart from it there (exact McNemar for "
            "accuracy, a paired bootstrap for other metrics; Holm-corrected); tier 2 starts at the first file it can, "
            "and so on: within a tier, the order is noise, not skill.")


def render(entries: list[dict], title: str, base: Path, chart: str | None, metric: str | None = None,
           bounds: dict | None = None, confidence: float = uncertainty.DEFAULT_CONFIDENCE) -> str:
    scorer = board_metric(entries, metric)
    rows = standings.files(entries, scorer.higher_is_better, scorer.name)
    reveal = ledger.revealed(entries)
    lines = [f"{HEADING}{title}", ""]
    others = sorted({e.get("metric", metrics.DEFAULT) for e in ledger.graded(entries)} - {scorer.name})
    if others:
        left_out = len(ledger.graded(entries)) - len(rows)
        lines += [f"{left_out} graded submission(s) scored by another metric ({', '.join(others)}, through "
                  f"`grade --metric`) are left out: only {scorer.name} scores rank here.", ""]
    if not rows:
        return "\n".join(lines + [f"No submission has been {'scored by ' + scorer.name if others else 'graded'} yet: "
                                   "`python -m competition.grade FILE`.", ""])
    public_rows = rows[0].get("public_rows")
    lines += [f"{len(rows)} graded submission(s), ranked by public {scorer.name} "
              f"({'higher' if scorer.higher_is_better else 'lower'} is better)"
              + (f" ({public_rows:,} public rows)" if public_rows else "")
              + f"; {STAR} marks the best. "
                f"Private scores are {'revealed' if reveal else 'hidden until `grade --reveal`'}.",
              "", *table(rows, reveal, base, scorer.name, bounds, confidence), "",
              tiers_text(bounds, public_rows, confidence), "", "## Does CV predict public?", "",
              rank_correlation(rows), ""]
    lines += ["## Suggested final picks", ""]
    picks = final_picks(rows, scorer, bounds)
    for n, (entry, why) in enumerate(picks, start=1):
        estimate = pooled(entry)
        lines.append(f"{n}. **{entry['name']}** — {why}"
                     + (f" (pooled estimate {estimate:.4f})" if estimate is not None else ""))
    known = [e for e in rows if e.get("private") is not None]
    if reveal and known:
        best = min(known, key=lambda e: scorer.loss(e["private"]))
        lines += ["", "After the reveal: " + "; ".join(
            f"pick {n} scored {entry['private']:.4f} on private" if entry.get("private") is not None
            else f"pick {n}'s private score is unknown" for n, (entry, _) in enumerate(picks, start=1))
                  + f"; the best private score on the board is {best['private']:.4f} ({best['name']})."]
    if chart:
        lines += ["", f"![CV against public score]({chart})"]
    return "\n".join(lines) + "\n"


def chart_png(entries: list[dict], metric: str | None = None, bounds: dict | None = None) -> bytes | None:
    """CV (x) against public (y), one point per submission, the picks ringed, as PNG bytes; None if no
    submission has a CV score; in the board's metric. Each point carries its rank in the table; the
    ``ZOOMED`` best and the picks are drawn again, zoomed, where the decisions are made, the ``NAMED``
    best and the picks with their names. With ``bounds``, each public score's interval as a vertical bar
    and each point coloured by its tier."""
    scorer = board_metric(entries, metric)
    board = standings.files(entries, scorer.higher_is_better, scorer.name)
    rows = [e for e in board if ledger.cv_score(e)]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = {id(e) for e, _ in final_picks(board, scorer, bounds)}
    ranks = {id(e): rank for rank, e in enumerate(board, start=1)}
    top = [e for e in rows if ranks[id(e)] <= ZOOMED or id(e) in picks]
    fig, (whole, zoom) = plt.subplots(1, 2, figsize=(13, 6.2), dpi=100)
    for ax, shown, title in ((whole, rows, "every submission (by rank)"),
                             (zoom, top, f"the best {ZOOMED} and the final picks")):
        xs, ys = [ledger.cv_score(e)[0] for e in shown], [e["public"] for e in shown]
        known = [(x, e) for x, e in zip(xs, shown) if (bounds or {}).get(e["sha256"])]
        if known:
            spans = [bounds[e["sha256"]] for _, e in known]
            ax.errorbar([x for x, _ in known], [e["public"] for _, e in known],
                        yerr=[[max(0.0, e["public"] - s["low"]) for (_, e), s in zip(known, spans)],  # Wilson's
                              [max(0.0, s["high"] - e["public"]) for (_, e), s in zip(known, spans)]],  # 1 - 1e-17
                        fmt="none", ecolor="lightgrey", elinewidth=1.5, zorder=2, label="public interval")
            tiers = sorted({s["tier"] for s in spans})
            for tier in tiers[:TIER_COLOURS]:
                here = [(x, e) for x, e in known if bounds[e["sha256"]]["tier"] == tier]
                ax.scatter([x for x, _ in here], [e["public"] for _, e in here], zorder=3, label=f"tier {tier}",
                           color=plt.get_cmap("tab10")(tier - 1))
            rest = [(x, e) for x, e in zip(xs, shown) if tier_of(e, bounds) not in tiers[:TIER_COLOURS]]
            if rest:
                ax.scatter([x for x, _ in rest], [e["public"] for _, e in rest], color="grey", zorder=3,
                           label=f"tier {TIER_COLOURS + 1}+ or unknown")
        else:
            ax.scatter(xs, ys, color="tab:blue", zorder=3, label="submission")
        ringed = [e for e in shown if id(e) in picks]
        ax.scatter([ledger.cv_score(e)[0] for e in ringed], [e["public"] for e in ringed], s=220,
                   facecolors="none", edgecolors="tab:red", linewidths=2, zorder=4, label="final pick")
        for e in shown:  # each point by its rank, the key into the table
            ax.annotate(str(ranks[id(e)]), (ledger.cv_score(e)[0], e["public"]), fontsize=7, color="dimgrey",
                        xytext=(4, -9), textcoords="offset points")
        reach = [v for _, e in known for v in (bounds[e["sha256"]]["low"], bounds[e["sha256"]]["high"])]
        low, high = min(xs + ys + reach), max(xs + ys + reach)  # the intervals drawn whole
        pad = max(0.002, (high - low) * 0.08)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", linestyle="--", label="public = CV")
        ax.set(xlim=(low - pad, high + pad), ylim=(low - pad, high + pad), xlabel=f"CV {scorer.name} (mean of folds)",
               ylabel=f"public {scorer.name}", title=title)
        ax.grid(alpha=0.3)
    named = sorted((e for e in top if id(e) in picks or ranks[id(e)] <= NAMED), key=lambda e: ranks[id(e)])
    for n, e in enumerate(named):  # in a column at the top left, where the diagonal leaves room
        why = " (final pick)" if id(e) in picks else ""
        zoom.annotate(f"{ranks[id(e)]}. {e['name']}{why}", (ledger.cv_score(e)[0], e["public"]),
                      xytext=(0.03, 0.97 - 0.06 * n), textcoords="axes fraction", fontsize=8, va="top",
                      bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "lightgrey", "alpha": 0.9},
                      arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.6, "alpha": 0.7})
    zoom_box = zoom.get_xlim(), zoom.get_ylim()
    whole.add_patch(plt.Rectangle((zoom_box[0][0], zoom_box[1][0]), zoom_box[0][1] - zoom_box[0][0],
                                  zoom_box[1][1] - zoom_box[1][0], fill=False, edgecolor="tab:orange", linewidth=1.2,
                                  label="zoomed at right"))
    whole.legend(loc="lower right" if scorer.higher_is_better else "upper left")
    fig.suptitle("CV against public score")
    fig.tight_layout()
    return picture_bytes(fig, tight=False)


def check_replaceable(path: str | Path) -> None:
    """Refuse to draw over a file this module did not draw (``--leaderboard README.md``), or over a
    picture beside a leaderboard that does not exist yet."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".png":
        raise InputError(f"--leaderboard {path}: must name a Markdown file, not a folder or a picture")
    if path.exists():
        check_regular_option("--leaderboard", path)
    if path.exists() and not begins_with(path, (HEADING,)):
        raise InputError(f"--leaderboard {path}: exists and is not a leaderboard drawn by this toolkit; "
                         "it is left untouched")
    if not path.exists() and path.with_suffix(".png").exists():
        raise InputError(f"--leaderboard {path}: {path.with_suffix('.png')} exists and was not drawn with it; "
                         "it is left untouched")


def notes_line(page: str, chart: bytes | None) -> str:
    """The line between the drawn board and the user's notes. It records the sha256 of what was
    drawn above it and of the chart, so that the next redraw can tell a hand edit from its own work."""
    return (f"{NOTES_OPEN} grade redraws everything above this line and keeps everything below it: write your "
            f"notes there. page {sha256(page)}" + (f" chart {sha256(chart)}" if chart is not None else "") + " -->")


def sha256(data: str | bytes) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def kept_notes(path: str | Path, previous: list[dict], title: str, metric: str | None = None) -> str:
    """What the user wrote below the notes line of the board at ``path`` (to be kept as it is), or
    an ``InputError`` saying how to proceed when redrawing would lose something they changed: the
    drawn part edited, or a chart that is not the one drawn last. ``previous``: the ledger entries
    before this grading, which a board drawn by an older version (with no notes line) must match."""
    path = Path(path)
    check_replaceable(path)
    chart = path.with_suffix(".png")
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace")
    found = NOTES_PATTERN.search(text)
    if found is None:  # drawn by an older version: safe to redraw only if it is exactly what it drew
        drawn = render(previous, title, path.parent, chart.name if _charted(previous) else None, metric)
        if text != drawn:
            raise InputError(f"--leaderboard {path}: differs from the board its ledger draws (edited by hand, or "
                             "drawn by an older version) and has no notes line, so a redraw would lose the "
                             f"difference; it is left untouched: save what you want to keep, delete {path} (and "
                             f"{chart.name} beside it) and grade again; from then on notes below its last line "
                             "are kept")
        notes, ours = "", _charted(previous)  # such a board showing a chart drew the one beside it
    else:
        if sha256(text[:found.start()]) != found["page"]:
            raise InputError(f"--leaderboard {path}: edited by hand above its notes line (the line starting "
                             f"{NOTES_OPEN!r}), and grade redraws all of that; it is left untouched: move your "
                             f"changes below that line (or delete {path}) and grade again")
        notes = text[found.end() + 1:]
        ours = found["chart"] is not None and chart.is_file() and sha256(chart.read_bytes()) == found["chart"]
    if chart.exists() and not ours:
        raise InputError(f"--leaderboard {path}: {chart} is not the chart grade drew last (put there or changed "
                         "since); it is left untouched: move it away and grade again")
    return notes


def _charted(entries: list[dict]) -> bool:
    return any(ledger.cv_score(e) for e in ledger.graded(entries))


def write_leaderboard(entries: list[dict], path: str | Path = "leaderboard.md", title: str = "fashion-mnist",
                      metric: str | None = None, previous: list[dict] | None = None, bounds: dict | None = None,
                      confidence: float = uncertainty.DEFAULT_CONFIDENCE) -> Path:
    """Redraw ``path`` and the chart beside it from ``entries`` (the whole ledger), ranked by
    ``metric`` (default: the one the newest graded entry was scored by), keeping the notes below its
    notes line; ``previous``: the entries it was last drawn from (see ``kept_notes``); ``bounds``:
    the public intervals and tiers (``grade.local.public_bounds``), None without the answer key."""
    path = Path(path)
    notes = kept_notes(path, entries if previous is None else previous, title, metric)
    chart = path.with_suffix(".png")
    picture = chart_png(entries, metric, bounds)
    if picture is not None:
        write_bytes_atomic(chart, picture)
    drawn = render(entries, title, path.parent, chart.name if picture is not None else None, metric, bounds,
                   confidence) + "\n"
    write_text_atomic(path, f"{drawn}{notes_line(drawn, picture)}\n{notes}")
    return path


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(prog="python -m competition.leaderboard",
                                description="Redraw leaderboard.md from the ledger.")
    parser.add_argument("--ledger", type=Path, default=ledger.LEDGER, help=f"ledger (default {ledger.LEDGER})")
    parser.add_argument("--out", type=Path, default=Path("leaderboard.md"),
                        help="leaderboard file (default leaderboard.md)")
    parser.add_argument("--title", default="fashion-mnist", help="competition name in the heading")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="the competition folder: with it, each public score's interval and the tiers are drawn "
                             "from the kept files and the answer key, as grade draws them (without: none)")
    parser.add_argument("--solution", type=Path, metavar="CSV", help="answer key (default <data>.grader/solution.csv)")
    args = parser.parse_args(argv)
    ledger.check(args.ledger)
    if not args.ledger.is_file():
        raise InputError(f"--ledger {args.ledger}: no such ledger (python -m competition.grade writes it)")
    grader = None
    if args.data is not None:
        from .grader import Grader

        grader = Grader(args.data, args.solution)
    store = ledger.Ledger(args.ledger)
    with store.transaction():
        entries = store.entries()
        bounds = None
        if grader is not None:
            from .local import public_bounds

            bounds = public_bounds(grader, store, entries)
        write_leaderboard(entries, args.out, args.title, bounds=bounds)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
