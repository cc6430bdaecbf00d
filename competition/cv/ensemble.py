"""Ensembles of saved runs: mean, vote, OOF-fitted weights, and stacking. Nothing is retrained.

Members must share the data fingerprint and the folds, so that their OOF rows line up; an
ensemble is scored on OOF before anything is written, and saved as a run of its own
(``runs/<time>-ensemble-<method>``) that can be submitted, graded, or be a member itself.

- ``mean``: the average of the members' probabilities.
- ``vote``: each member votes for its top class; probabilities are vote shares (ties broken by
  the mean probability).
- ``weights``: non-negative weights summing to 1 that optimise the competition's metric on OOF
  rows where it is smooth in the weights (log loss), and the OOF log loss otherwise (a metric of
  argmax labels or ranks is flat almost everywhere: SLSQP would not move); never worse than the
  best member, whose one-hot weights are the starting point.
- ``stack``: a meta-model (logistic regression on the members' standardised log-probabilities) scored
  honestly: the meta-model that predicts fold k was fitted on the other folds' OOF rows only;
  for the test set it is fitted on all OOF rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import runs
from ..data import metrics
from ..errors import InputError
from ..runs import matching, provenance, scoring
from .folds import fold_rows

EPS = 1e-7  # floor of probabilities before the stack takes their logarithm


class EnsembleError(InputError):
    """Members that cannot be combined; the message names the run that differs."""


@dataclass
class Blend:
    oof: np.ndarray  # (n_train, n_classes), NaN rows outside the folds
    test: np.ndarray  # (n_test, n_classes)
    info: dict = field(default_factory=dict)  # e.g. the fitted weights


def resolve_member(spec: str, runs_dir: Path) -> runs.Run:
    """A run folder, or a model name meaning its newest finished run in ``runs_dir``."""
    path = Path(spec)
    if (path / runs.CONFIG).is_file():
        run = runs.load_run(path)
    else:
        candidates = [r for r in runs.list_runs(runs_dir) if r.config["model"] == spec and r.finished]
        if not candidates:
            raise EnsembleError(f"{spec!r} is neither a run folder nor a model with a finished run in {runs_dir}")
        run = candidates[-1]
    if not run.finished:
        raise EnsembleError(f"{run.path}: unfinished run ({len(run.done_folds)} of {run.config['folds']} folds)")
    return runs.verify(run)


def check_compatible(members: list[runs.Run]) -> np.ndarray:
    """The members' common folds; an error names the first run whose data or folds differ, or that
    is given twice (a run blended with itself only re-weights itself)."""
    seen: dict[Path, int] = {}
    for n, run in enumerate(members):
        where = run.path.resolve()
        if where in seen:
            raise EnsembleError(f"{run.path}: given twice (members {seen[where] + 1} and {n + 1}); "
                                "an ensemble needs different runs")
        seen[where] = n
    first = members[0]
    folds = first.folds()
    for run in members[1:]:
        mismatch = matching.differences(run.config, first.config, matching.SAME_FOLDS)
        if mismatch or not np.array_equal(run.folds(), folds):
            why = "; ".join(mismatch) or "the fold arrays differ"
            raise EnsembleError(f"{run.path}: its folds or data differ from those of {first.path} ({why})")
    return folds


def oof_log_loss(proba: np.ndarray, y: np.ndarray, used: np.ndarray) -> float:
    """Log loss on the OOF rows, computed exactly as a run scores itself (``scoring.log_loss``)."""
    return scoring.log_loss(y[used], proba[used])


def blend_mean(oofs, tests, y, folds, metric: metrics.Metric | None = None) -> Blend:
    return Blend(np.mean(oofs, axis=0), np.mean(tests, axis=0))


def _votes(probas: np.ndarray) -> np.ndarray:
    n_members, n_rows, n_classes = probas.shape
    shares = np.zeros((n_rows, n_classes))
    for proba in probas:
        shares[np.arange(n_rows), np.nan_to_num(proba, nan=0).argmax(axis=1)] += 1 / n_members
    tie_break = EPS * np.nan_to_num(probas.mean(axis=0))
    result = shares + tie_break
    return result / result.sum(axis=1, keepdims=True)


def blend_vote(oofs, tests, y, folds, metric: metrics.Metric | None = None) -> Blend:
    oof = _votes(oofs)
    oof[np.isnan(oofs[0][:, 0])] = np.nan
    return Blend(oof, _votes(tests))


def blend_weights(oofs, tests, y, folds, metric: metrics.Metric = metrics.get(metrics.DEFAULT)) -> Blend:
    from scipy.optimize import minimize

    used = folds >= 0
    n = len(oofs)
    objective = metric if metric.smooth else metrics.get("log_loss")

    def loss(w):
        blended = np.tensordot(w, oofs, axes=1)[used]
        return objective.loss(objective.from_probabilities(y[used], blended))

    start = np.eye(n)[int(np.argmin([loss(w) for w in np.eye(n)]))]

    result = minimize(loss, start, method="SLSQP", bounds=[(0, 1)] * n,
                      constraints={"type": "eq", "fun": lambda w: w.sum() - 1})
    weights = np.clip(result.x, 0, None)
    weights = weights / weights.sum()
    if loss(weights) > loss(start):  # the optimiser wandered off: keep the best member
        weights = start
    return Blend(np.tensordot(weights, oofs, axes=1), np.tensordot(weights, tests, axes=1),
                 {"weights": [round(float(w), 6) for w in weights], "weights_optimise": objective.name})


def _stack_features(probas: np.ndarray) -> np.ndarray:
    """(members, rows, classes) -> (rows, members*classes) log-probabilities."""
    return np.log(np.clip(np.concatenate(list(probas), axis=1), EPS, 1))


def blend_stack(oofs, tests, y, folds, metric: metrics.Metric | None = None,
                make_meta: Callable | None = None) -> Blend:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    make_meta = make_meta or (lambda: make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)))
    features = _stack_features(np.nan_to_num(oofs, nan=1.0))
    n_classes = oofs.shape[2]
    oof = np.full(oofs.shape[1:], np.nan)
    for fold in range(folds.max() + 1):
        train, held_out = fold_rows(folds, fold)
        meta = make_meta().fit(features[train], y[train])
        oof[held_out] = _aligned(meta, features[held_out], n_classes)
    meta = make_meta().fit(features[folds >= 0], y[folds >= 0])
    name = "+".join(type(step).__name__ for _, step in meta.steps) if hasattr(meta, "steps") else type(meta).__name__
    return Blend(oof, _aligned(meta, _stack_features(tests), n_classes), {"meta_model": name})


def _aligned(meta, x, n_classes) -> np.ndarray:
    proba = np.zeros((len(x), n_classes))
    proba[:, meta.classes_] = meta.predict_proba(x)
    return proba


METHODS: dict[str, Callable[..., Blend]] = {
    "mean": blend_mean, "vote": blend_vote, "weights": blend_weights, "stack": blend_stack,
}


def agreement(oofs: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Pairwise share of OOF rows on which two members predict the same class."""
    top = [np.argmax(o[used], axis=1) for o in oofs]
    n = len(top)
    table = np.eye(n)
    for i, j in itertools.combinations(range(n), 2):
        table[i, j] = table[j, i] = np.mean(top[i] == top[j])
    return table


def ensemble(members: list[runs.Run], method: str, runs_dir: str | Path = "runs",
             metric: str = metrics.DEFAULT) -> tuple[runs.Run, dict]:
    """Blend ``members`` with ``method``, save the blend as a run, and return it with a report;
    both score each member and the blend by the competition's ``metric`` (besides accuracy and log loss)."""
    scorer = metrics.get(metric)
    if method not in METHODS:
        raise EnsembleError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not members:
        raise EnsembleError("an ensemble needs at least one member")
    folds = check_compatible(members)
    y = members[0].labels()
    oofs = np.stack([m.oof() for m in members])
    tests = np.stack([m.test() for m in members])
    for i, j in itertools.combinations(range(len(members)), 2):
        if np.array_equal(oofs[i], oofs[j], equal_nan=True) and np.array_equal(tests[i], tests[j]):
            raise EnsembleError(f"{members[j].path}: the same predictions as {members[i].path} (a copy of one run?); "
                                "an ensemble needs different runs")
    blend = METHODS[method](oofs, tests, y, folds, scorer)
    used = folds >= 0
    report = {
        "members": [{"run": str(m.path), "model": m.config["model"], "overrides": m.config.get("overrides", {}),
                     **{key: matching.setting(m.config, key) for key in matching.DEFAULTS},
                     "oof_accuracy": scoring.oof_accuracy(o, y, used),
                     "oof_log_loss": oof_log_loss(o, y, used),
                     "oof_score": scorer.from_probabilities(y[used], o[used])} for m, o in zip(members, oofs)],
        "metric": scorer.name,
        "agreement": agreement(oofs, used).round(4).tolist(),
        **blend.info,
    }
    run = save_blend(members, method, blend, folds, y, report, runs_dir, scorer.name)
    return run, report


def save_blend(members, method, blend: Blend, folds, y, report, runs_dir,
               metric: str = metrics.DEFAULT) -> runs.Run:
    """Write the blend as a finished run through the one writer (``runs.write_run``): config, folds,
    labels, a fold file per fold (its held-out rows and the blend's test probabilities), OOF and test."""
    first = members[0].config
    config = {**{k: first[k] for k in ("folds", "seed", "limit", "data")},
              "model": f"ensemble-{method}", "method": method, "params": {k: v for k, v in report.items()
                                                                           if k in ("weights", "meta_model")},
              "overrides": {}, "members": report["members"], **provenance.record()}
    results = []
    for fold in range(first["folds"]):
        _, held_out = fold_rows(folds, fold)
        proba = blend.oof[held_out]
        scores = scoring.score_fold(fold, y[held_out], proba, train_rows=int((folds >= 0).sum() - len(held_out)))
        results.append(runs.FoldResult(fold, held_out, proba, blend.test, scores))
    return runs.write_run(runs_dir, f"ensemble-{method}", config, folds, y, results, metric=metric)
