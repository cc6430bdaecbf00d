"""Runs side by side: the one-line listing of ``python -m competition.runs`` and the table of
``--compare`` (model, the parameters that differ, CV, time, the OOF score's interval and tier).
Reads finished runs; writes nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from ..data import metrics, uncertainty
from . import matching, scoring
from .records import Run

if TYPE_CHECKING:
    import pandas as pd

def format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def describe(run: Run) -> str:
    c = run.config
    limit = f" limit {c['limit']}" if c.get("limit") else ""
    limit += f" {c['seeds']} seeds" if matching.setting(c, "seeds") != 1 else ""
    limit += " refit" if c.get("refit") else ""
    if run.finished:
        s = run.scores
        scored = (f"{s['metric']} {s['score_mean']:.4f} +- {s['score_std']:.4f}  "
                  if s.get("metric", metrics.DEFAULT) != metrics.DEFAULT and "score_mean" in s else "")
        status = (f"{scored}accuracy {s['accuracy_mean']:.4f} +- {s['accuracy_std']:.4f}  oof {s['oof_accuracy']:.4f}  "
                  f"{format_seconds(s['fit_seconds'] + s['predict_seconds'])}")
    else:
        status = f"unfinished: {len(run.done_folds)} of {c['folds']} folds done (--resume {run.path})"
    return f"{run.name:<36} {c['model']:<9} {c['folds']}-fold{limit}  {status}"


COMPARE_COLUMNS = ("run", "model", "seeds", "folds", "limit", "accuracy_mean", "accuracy_std", "oof_log_loss",
                   "seconds")


def group_by_data(found: list[Run]) -> dict[str, list[Run]]:
    """Runs by data fingerprint, in order of first appearance: scores on other data do not compare."""
    groups: dict[str, list[Run]] = {}
    for run in found:
        groups.setdefault(run.config["data"]["fingerprint"], []).append(run)
    return groups


def differing_params(found: list[Run]) -> list[str]:
    """The model parameters whose values differ among the runs that have them, in first-seen order:
    what sets those runs apart besides the model (a parameter of one model only, at one value, says
    nothing the model column does not)."""
    names = dict.fromkeys(name for run in found for name in run.config.get("params") or {})
    differ = []
    for name in names:
        values = {json.dumps(run.config["params"][name], sort_keys=True, default=str)
                  for run in found if name in (run.config.get("params") or {})}
        if len(values) > 1:
            differ.append(name)
    return differ


def compare_table(found: list[Run], metric: str = metrics.DEFAULT) -> pd.DataFrame:
    """One row per finished run of ``found``, best CV score first: run, model, the parameters that
    differ (blank where a run's model has no such parameter), seeds, folds, limit, CV accuracy mean
    and std, OOF log loss and seconds of fitting and predicting. With another ``metric`` than
    accuracy, its CV mean and std too (``score_mean``, ``score_std``), ranked by it in its direction.
    Meant for runs on one data set (``group_by_data``)."""
    import pandas as pd

    finished = [run for run in found if run.finished]
    params = differing_params(finished)
    columns = {name: f"param.{name}" if name in COMPARE_COLUMNS else name for name in params}
    rows = []
    for run in finished:
        c, s, own = run.config, run.scores, run.config.get("params") or {}
        rows.append({"run": run.name, "model": c["model"],
                     **{columns[name]: own.get(name, "") for name in params},
                     "seeds": matching.setting(c, "seeds"), "folds": c["folds"], "limit": c.get("limit"),
                     "accuracy_mean": s["accuracy_mean"], "accuracy_std": s.get("accuracy_std"),
                     "oof_log_loss": s.get("oof_log_loss"),
                     "seconds": s.get("fit_seconds", 0.0) + s.get("predict_seconds", 0.0)})
    order = ["run", "model", *columns.values(), *COMPARE_COLUMNS[2:]]
    table = pd.DataFrame(rows, columns=order, dtype=object)  # parameters as given: 4 stays 4, None stays None
    numbers = ["accuracy_mean", "accuracy_std", "oof_log_loss", "seconds"]
    table[numbers] = table[numbers].astype(float)
    if metric == metrics.DEFAULT:
        return table.sort_values("accuracy_mean", ascending=False, kind="stable", ignore_index=True)
    scored = [scoring.metric_scores(run, metric) for run in finished]
    table["score_mean"] = [float(x["score_mean"]) for x in scored]
    table["score_std"] = [float(x["score_std"]) for x in scored]
    table = table.sort_values("score_mean", ascending=not metrics.get(metric).higher_is_better, kind="stable",
                              ignore_index=True)
    table.attrs["metric"] = metric
    return table


def with_uncertainty(table: pd.DataFrame, found: list[Run], metric: str = metrics.DEFAULT,
                     confidence: float = uncertainty.DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """``table`` (``compare_table``) with each run's OOF score in ``metric``, its interval
    (``oof_low``, ``oof_high``: Wilson for accuracy, a bootstrap over the rows otherwise) and its
    ``tier`` among the runs on the folds of the table's first run: tier 1 is that run and every run
    the paired test over the same OOF rows cannot separate from it (``uncertainty.tiers``); a run
    on other folds or rows cannot be paired row by row and has no tier (None)."""
    scorer = metrics.get(metric)
    by_name = {run.name: run for run in found}
    table = table.copy()
    predicted, low, high, scores = [], [], [], []
    for name in table["run"]:
        run = by_name[name]
        folds, proba = run.folds(), run.oof()
        used = folds >= 0
        rows = proba[used] if scorer.needs == metrics.PROBABILITIES else proba[used].argmax(axis=1)
        y = run.labels()[used]
        interval = uncertainty.interval(scorer, y, rows, len(run.classes), confidence)
        predicted.append((folds, y, rows))
        scores.append(scorer.score(y, rows, len(run.classes)))
        low.append(interval[0])
        high.append(interval[1])
    table["oof_score"], table["oof_low"], table["oof_high"] = scores, low, high
    first_folds, first_y, _ = predicted[0]
    same = [i for i, (folds, y, _) in enumerate(predicted)
            if np.array_equal(folds, first_folds) and np.array_equal(y, first_y)]
    tiers = uncertainty.tiers(scorer, first_y, [predicted[i][2] for i in same], len(by_name[table["run"][0]].classes))
    tier_of = dict(zip(same, tiers))
    table["tier"] = [tier_of.get(i) for i in range(len(table))]
    table.attrs.update(metric=metric, confidence=confidence)
    return table


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text: CV as mean +- std, times as 1m05s."""
    import pandas as pd

    hidden = ["accuracy_mean", "accuracy_std", "oof_log_loss", "seconds", "score_mean", "score_std", "oof_score",
              "oof_low", "oof_high", "tier"]
    shown = table.drop(columns=hidden, errors="ignore").astype(object)
    shown["limit"] = table["limit"].map(lambda v: "-" if v is None else v)
    if "score_mean" in table:
        shown[f"cv {table.attrs['metric']}"] = [f"{m:.4f} +- {s:.4f}" for m, s in zip(table["score_mean"],
                                                                                     table["score_std"])]
    shown["cv accuracy"] = [f"{m:.4f} +- {s:.4f}" for m, s in zip(table["accuracy_mean"], table["accuracy_std"])]
    shown["oof log loss"] = table["oof_log_loss"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.4f}")
    shown["time"] = table["seconds"].map(format_seconds)
    if "tier" in table:
        name = f"oof {table.attrs.get('metric', metrics.DEFAULT)} {table.attrs['confidence']:.0%}"
        shown[name] = [f"{s:.4f} [{lo:.4f}, {hi:.4f}]" for s, lo, hi in zip(table["oof_score"], table["oof_low"],
                                                                          table["oof_high"])]
        shown["tier"] = table["tier"].map(lambda t: "-" if t is None or pd.isna(t) else int(t))
    return shown.to_string(index=False)


def describe_data(run: Run) -> str:
    data = run.config["data"]
    return (f"data {data.get('name', '?')} (fingerprint {data['fingerprint'][:12]}, {data['train_rows']:,} train "
            f"rows)")


def compare(found: list[Run]) -> str:
    """The comparison ``--compare`` prints: a table per data set, and what was left out."""
    finished = [run for run in found if run.finished]
    groups = group_by_data(finished)
    lines = []
    if len(groups) > 1:
        lines += [(f"these runs were made on {len(groups)} different data sets (fingerprints differ): "
                   "compare scores within a table only"), ""]
    for group in groups.values():  # ranked by the competition's metric, as its newest run was scored
        metric = next((run.scores["metric"] for run in reversed(group) if run.scores.get("metric")), metrics.DEFAULT)
        lines += [describe_data(group[0]) + ":",
                  format_table(with_uncertainty(compare_table(group, metric), group, metric)), ""]
    if len(finished) < len(found):
        lines.append(f"{len(found) - len(finished)} unfinished run(s) left out")
    return "\n".join(lines).rstrip("\n")


