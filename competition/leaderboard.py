"""``leaderboard.md`` (and ``leaderboard.png``), drawn from the ledger alone, so the same ledger
always gives the same files.

    python -m competition.leaderboard [--ledger submissions/ledger.jsonl] [--out leaderboard.md]

The table ranks counted submissions by public score in the competition's metric (ascending when
lower is better, as log loss), with each one's CV score in that metric beside it. Below
it: how well CV predicted public (Spearman rank correlation), the two suggested final picks and
the rule behind them, and once the private scores are revealed, how the picks did there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import cli, ledger, metrics
from .errors import InputError
from .fsutil import begins_with, write_text_atomic

STAR = "★"
HEADING = "# Leaderboard — "  # every leaderboard this module draws starts so: the mark that it may be redrawn


def recipe_text(entry: dict) -> str:
    recipe = entry.get("recipe") or {}
    if not recipe:
        return "-"
    text = model_text(recipe)
    if recipe.get("limit"):
        text += f" [limit {recipe['limit']}]"
    return text.replace("|", "/")


def model_text(recipe: dict) -> str:
    """A model and what sets it apart from its defaults, an ensemble's members each so: two runs
    of one model then read apart ("cnn + cnn (random_state=88)"), not as the same run twice."""
    text = recipe.get("model", "?")
    if recipe.get("members"):
        text += " of " + " + ".join(model_text(member) for member in recipe["members"])
    if recipe.get("overrides"):
        text += " (" + ", ".join(f"{k}={v}" for k, v in recipe["overrides"].items()) + ")"
    if (recipe.get("seeds") or 1) > 1:
        text += f" [{recipe['seeds']} seeds]"
    if recipe.get("refit"):
        text += " [refit on all rows]"  # its test predictions are one model's, not the folds' mean
    return text


def board_metric(entries: list[dict], metric: str | None = None) -> metrics.Metric:
    """The metric a board ranks by: ``metric``, else the newest counted entry's (accuracy if none)."""
    graded = ledger.graded(entries)
    return metrics.get(metric or (graded[-1].get("metric", metrics.DEFAULT) if graded else metrics.DEFAULT))


def standings(entries: list[dict], scorer: metrics.Metric = metrics.get(metrics.DEFAULT)) -> list[dict]:
    """Counted submissions, best public score first in ``scorer``'s direction (earlier first among equals)."""
    return metrics.ranked(ledger.graded(entries), scorer.higher_is_better)


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


def final_picks(rows: list[dict], scorer: metrics.Metric = metrics.get(metrics.DEFAULT)) -> list[tuple[dict, str]]:
    """Two finals: the best CV score, and the best pooled CV+public estimate among the others
    (best in ``scorer``'s direction)."""
    with_cv = [e for e in rows if ledger.cv_score(e)]
    if not with_cv:
        return [(rows[0], "best public score (no submission has a CV score)")] if rows else []
    first = min(with_cv, key=lambda e: (scorer.loss(ledger.cv_score(e)[0]), scorer.loss(e["public"])))
    picks = [(first, "best CV score: the estimate on the most rows, and one the public board cannot have flattered")]
    others = [e for e in with_cv if e is not first]
    if others:
        second = min(others, key=lambda e: scorer.loss(pooled(e)))
        picks.append((second, "best CV and public pooled by their row counts, among the others: a hedge that "
                              "gives the public rows exactly their statistical weight, no more"))
    return picks


def rank_correlation(rows: list[dict]) -> str:
    pairs = [(ledger.cv_score(e)[0], e["public"]) for e in rows if ledger.cv_score(e)]
    if len(pairs) < 3:
        return f"needs at least 3 submissions with a CV score (has {len(pairs)})"
    from scipy.stats import spearmanr

    rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    return f"Spearman rank correlation between CV and public over {len(pairs)} submissions: **{rho:.3f}**"


def table(rows: list[dict], reveal: bool, base: Path, metric: str = metrics.DEFAULT) -> list[str]:
    lines = [f"| rank | submission | recipe | CV {metric} | public | private | public − CV | date | sha256 |",
             "|---:|---|---|---|---:|---:|---:|---|---|"]
    for rank, e in enumerate(rows, start=1):
        cv = ledger.cv_score(e)
        cv_text = f"{cv[0]:.4f} ± {cv[1]:.4f}" if cv else "-"
        gap = f"{e['public'] - cv[0]:+.4f}" if cv else "-"
        link = os.path.relpath(e["file"], base) if not os.path.isabs(e["file"]) else e["file"]
        mark = f" {STAR}" if rank == 1 else ""
        private = ("hidden" if not reveal else f"{e['private']:.4f}" if e.get("private") is not None else "unknown")
        lines.append(f"| {rank}{mark} | [{e['name']}]({link}) | {recipe_text(e)} | {cv_text} | {e['public']:.4f} | "
                     f"{private} | {gap} | {e['time'][:10]} | `{e['sha256'][:8]}` |")
    return lines


def render(entries: list[dict], title: str, base: Path, chart: str | None, metric: str | None = None) -> str:
    scorer = board_metric(entries, metric)
    rows = standings(entries, scorer)
    reveal = ledger.revealed(entries)
    lines = [f"{HEADING}{title}", ""]
    if not rows:
        return "\n".join(lines + ["No submission has been graded yet: `python -m competition.grade FILE`.", ""])
    public_rows = rows[0].get("public_rows")
    lines += [f"{len(rows)} graded submission(s), ranked by public {scorer.name} "
              f"({'higher' if scorer.higher_is_better else 'lower'} is better)"
              + (f" ({public_rows:,} public rows)" if public_rows else "")
              + f"; {STAR} marks the best. Private scores are {'revealed' if reveal else 'hidden until `grade --reveal`'}.",
              "", *table(rows, reveal, base, scorer.name), "", "## Does CV predict public?", "", rank_correlation(rows), ""]
    lines += ["## Suggested final picks", ""]
    picks = final_picks(rows, scorer)
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


def draw_chart(entries: list[dict], path: Path, metric: str | None = None) -> bool:
    """CV (x) against public (y) in the board's metric, one point per submission, the picks ringed.
    False if nothing to draw."""
    scorer = board_metric(entries, metric)
    rows = [e for e in standings(entries, scorer) if ledger.cv_score(e)]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = {id(e) for e, _ in final_picks(standings(entries, scorer), scorer)}
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    xs, ys = [ledger.cv_score(e)[0] for e in rows], [e["public"] for e in rows]
    ax.scatter(xs, ys, color="tab:blue", zorder=3, label="submission")
    ringed = [e for e in rows if id(e) in picks]
    ax.scatter([ledger.cv_score(e)[0] for e in ringed], [e["public"] for e in ringed], s=220, facecolors="none",
               edgecolors="tab:red", linewidths=2, zorder=4, label="final pick")
    for e in rows:
        ax.annotate(e["name"], (ledger.cv_score(e)[0], e["public"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
    low, high = min(xs + ys), max(xs + ys)
    pad = max(0.002, (high - low) * 0.08)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", linestyle="--", label="public = CV")
    ax.set(xlim=(low - pad, high + pad), ylim=(low - pad, high + pad), xlabel=f"CV {scorer.name} (mean of folds)",
           ylabel=f"public {scorer.name}", title="CV against public score")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right" if scorer.higher_is_better else "upper left")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return True


def check_replaceable(path: str | Path) -> None:
    """Refuse to draw over a file this module did not draw (``--leaderboard README.md``), or over a
    picture beside a leaderboard that does not exist yet."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".png":
        raise InputError(f"--leaderboard {path}: must name a Markdown file, not a folder or a picture")
    if path.exists() and not begins_with(path, (HEADING,)):
        raise InputError(f"--leaderboard {path}: exists and is not a leaderboard drawn by this toolkit; "
                         "it is left untouched")
    if not path.exists() and path.with_suffix(".png").exists():
        raise InputError(f"--leaderboard {path}: {path.with_suffix('.png')} exists and was not drawn with it; "
                         "it is left untouched")


def write_leaderboard(entries: list[dict], path: str | Path = "leaderboard.md", title: str = "fashion-mnist",
                      metric: str | None = None) -> Path:
    """Redraw ``path`` and the chart beside it from ``entries`` (the whole ledger), ranked by
    ``metric`` (default: the one the newest graded entry was scored by)."""
    path = Path(path)
    check_replaceable(path)
    chart = path.with_suffix(".png")
    drawn = draw_chart(entries, chart, metric)
    write_text_atomic(path, render(entries, title, path.parent, chart.name if drawn else None, metric))
    return path


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(prog="python -m competition.leaderboard", description="Redraw leaderboard.md from the ledger.")
    parser.add_argument("--ledger", type=Path, default=ledger.LEDGER, help=f"ledger (default {ledger.LEDGER})")
    parser.add_argument("--out", type=Path, default=Path("leaderboard.md"), help="leaderboard file (default leaderboard.md)")
    parser.add_argument("--title", default="fashion-mnist", help="competition name in the heading")
    args = parser.parse_args(argv)
    ledger.check(args.ledger)
    if not args.ledger.is_file():
        raise InputError(f"--ledger {args.ledger}: no such ledger (python -m competition.grade writes it)")
    with ledger.lock(args.ledger):
        write_leaderboard(ledger.read(args.ledger), args.out, args.title)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
