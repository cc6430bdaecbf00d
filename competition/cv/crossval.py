"""Cross-validation in memory, pure, as scikit-learn's ``model_selection.cross_validate``: one fresh
copy of the model per fold (``sklearn.base.clone``), trained on the other folds' rows and scored on
the held-out fold; nothing is read or written here.

- ``cross_validate(estimator, x, y, x_test, folds, *, seeds=1, executor=None, on_fold=None)``
  returns a ``CVResult`` (OOF and fold-averaged test probabilities, scores, per-fold results).
  ``executor`` (anything with ``submit``, such as a ``concurrent.futures`` pool or a Dask client)
  runs the folds elsewhere; ``on_fold`` is called with each fold as it completes (``obtain.run_cv``
  saves it there, so that an interrupted run loses at most the folds in progress).
- ``refit_on_all_rows``: the model trained again on every row after the folds (``--refit``).
"""

from __future__ import annotations

import time
from concurrent.futures import as_completed
from typing import Callable

import numpy as np

from ..errors import InputError
from ..models import reseeded
from ..runs import scoring
from ..runs.records import CVResult, FoldResult, RefitResult
from .cluster import with_threads
from .folds import fold_rows


class FoldError(InputError):
    """A fold that failed where it ran (a cluster's worker, a pool's process); the folds that
    finished are saved, so ``--resume`` can try again."""


def align_proba(proba: np.ndarray, model_classes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Columns in ``classes`` order, zeros for classes the fold's model never saw; rows renormalised
    in float64 (libraries computing in float32 sum to 1 only roughly)."""
    proba = np.asarray(proba, dtype=np.float64)
    proba = proba / proba.sum(axis=1, keepdims=True)
    if len(model_classes) == len(classes) and np.array_equal(model_classes, classes):
        return proba
    aligned = np.zeros((len(proba), len(classes)))
    aligned[:, np.searchsorted(classes, model_classes)] = proba
    return aligned




def fit_fold(estimator, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, train: np.ndarray, held_out: np.ndarray,
             classes: np.ndarray, fold: int) -> FoldResult:
    """Train a fresh clone of ``estimator`` on the rows ``train`` and predict the rows ``held_out``
    and the test set; ``y`` are the labels as given, ``classes`` their sorted set (the columns)."""
    from sklearn.base import clone

    model = clone(estimator)
    start = time.perf_counter()
    model.fit(x[train], y[train])
    fitted = time.perf_counter()
    both = align_proba(model.predict_proba(np.concatenate([x[held_out], x_test])),
                       model.classes_, classes)  # one pass: networks trace their predict step once
    proba, test_proba = both[: len(held_out)], both[len(held_out) :]
    predicted = time.perf_counter()
    scores = scoring.score_fold(fold, np.searchsorted(classes, y[held_out]), proba, train_rows=len(train),
                             fit_seconds=fitted - start, predict_seconds=predicted - fitted,
                             best_iteration=getattr(model, "best_iteration_", None))
    return FoldResult(fold, held_out, proba, test_proba, scores, getattr(model, "history_", None))


def average_seeds(members: list[FoldResult], y_held_out: np.ndarray) -> FoldResult:
    """One fold's result from its seed members (in seed order): their probabilities averaged and
    scored again; each member's own accuracy is kept (``seed_accuracy``), times are summed, the
    history is the first seed's."""
    if len(members) == 1:
        return members[0]
    first = members[0]
    proba = np.mean([m.proba for m in members], axis=0)
    test_proba = np.mean([m.test_proba for m in members], axis=0)
    iterations = [m.scores["best_iteration"] for m in members]
    scores = scoring.score_fold(first.fold, y_held_out, proba, train_rows=first.scores["train_rows"],
                             fit_seconds=sum(m.scores["fit_seconds"] for m in members),
                             predict_seconds=sum(m.scores["predict_seconds"] for m in members),
                             best_iteration=None if None in iterations else round(float(np.mean(iterations))))
    scores["seed_accuracy"] = [m.scores["accuracy"] for m in members]
    return FoldResult(first.fold, first.rows, proba, test_proba, scores, first.history)


def cross_validate(estimator, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, folds: np.ndarray, *,
                   seeds: int = 1, classes: np.ndarray | None = None, executor=None,
                   on_fold: Callable[[FoldResult], None] | None = None,
                   done: list[FoldResult] = ()) -> CVResult:
    """Cross-validate ``estimator`` on ``folds`` (each row's fold, -1 for rows left out).

    ``seeds``: each fold trains that many copies of the model whose seeds differ (``reseeded``)
    and keeps their averaged probabilities. ``executor``: where the fold (and seed) jobs run
    (``submit(fn, *args)`` returning futures; None: here, one after another); all jobs are
    submitted at once. ``on_fold``: called with each new fold's result as it completes (all its
    seeds done). ``done``: folds computed before (a resumed run), not computed again."""
    from sklearn.base import clone

    classes = np.unique(y) if classes is None else np.asarray(classes)
    encoded = np.searchsorted(classes, y)
    n_folds = int(folds.max()) + 1
    results = {result.fold: result for result in done}
    todo = [fold for fold in range(n_folds) if fold not in results]
    if executor is not None and getattr(executor, "threads", None):  # each job gets the worker's share of cores
        estimator = with_threads(clone(estimator), executor.threads)
    members = [reseeded(estimator, k) for k in range(seeds)]
    arrived: dict[int, dict[int, FoldResult]] = {fold: {} for fold in todo}

    def member_done(fold: int, k: int, result: FoldResult) -> None:
        arrived[fold][k] = result
        if len(arrived[fold]) == seeds:
            held_out = fold_rows(folds, fold)[1]
            results[fold] = average_seeds([arrived[fold][i] for i in range(seeds)], encoded[held_out])
            if on_fold is not None:
                on_fold(results[fold])

    jobs = [(fold, k) for fold in todo for k in range(seeds)]
    if executor is None:
        for fold, k in jobs:
            member_done(fold, k, fit_fold(members[k], x, y, x_test, *fold_rows(folds, fold), classes, fold))
    else:
        futures = {executor.submit(fit_fold, members[k], x, y, x_test, *fold_rows(folds, fold), classes, fold):
                   (fold, k) for fold, k in jobs}
        try:
            for future in getattr(executor, "as_completed", as_completed)(list(futures)):
                fold, k = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # the worker's error, or the cluster's (a fold whose workers kept dying)
                    which = f"fold {fold}" + (f" (seed member {k})" if seeds > 1 else "")
                    raise FoldError(f"{which} failed on {type(executor).__name__}: "
                                    f"{type(exc).__name__}: {exc}") from exc
                member_done(fold, k, result)
        except BaseException:  # a failed fold, or on_fold stopping the run (a pruned trial, Ctrl-C): drop the rest
            for future in futures:
                future.cancel()
            raise
    ordered = [results[fold] for fold in range(n_folds)]
    oof, test, scores = scoring.summarise(ordered, encoded, len(classes))
    return CVResult(oof, test, scores, ordered)


def fit_all(estimator, x: np.ndarray, y: np.ndarray, x_test: np.ndarray,
            classes: np.ndarray) -> tuple[np.ndarray, dict]:
    """Train a fresh clone of ``estimator`` on every row given and predict the test set: one
    member of a refit."""
    from sklearn.base import clone

    model = clone(estimator)
    start = time.perf_counter()
    model.fit(x, y)
    fitted = time.perf_counter()
    proba = align_proba(model.predict_proba(x_test), model.classes_, classes)
    return proba, {"fit_seconds": round(fitted - start, 3), "predict_seconds": round(time.perf_counter() - fitted, 3),
                   "iterations": getattr(model, "best_iteration_", None)}


def refit_on_all_rows(estimator, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, folds: list[FoldResult], *,
                      seeds: int = 1, classes: np.ndarray | None = None, executor=None) -> RefitResult:
    """The model trained again on all of ``x`` (every row the folds used) for as many rounds or
    epochs as the folds' early stopping kept on average (``refit_params``), ``seeds`` copies
    averaged; its test probabilities replace the fold models' average. The CV scores stay the
    folds': a refit has no held-out rows to score."""
    from sklearn.base import clone

    classes = np.unique(y) if classes is None else np.asarray(classes)
    iterations = [result.scores.get("best_iteration") for result in folds]
    best = None if None in iterations else max(1, round(float(np.mean(iterations))))
    overrides = estimator.refit_params(best) if hasattr(estimator, "refit_params") else {}
    chosen = clone(estimator).set_params(**overrides)
    if executor is not None and getattr(executor, "threads", None):
        chosen = with_threads(chosen, executor.threads)
    members = [reseeded(chosen, k) for k in range(seeds)]
    if executor is None:
        made = [fit_all(member, x, y, x_test, classes) for member in members]
    else:
        futures = [executor.submit(fit_all, member, x, y, x_test, classes) for member in members]
        try:
            made = [future.result() for future in futures]
        except Exception as exc:
            raise FoldError(f"the refit failed on {type(executor).__name__}: {type(exc).__name__}: {exc}") from exc
    scores = {"params": {key.removeprefix("estimator__"): value for key, value in overrides.items()},
              "rows": int(len(y)), "iterations": best,
              "fit_seconds": float(sum(m[1]["fit_seconds"] for m in made)),
              "predict_seconds": float(sum(m[1]["predict_seconds"] for m in made))}
    return RefitResult(np.mean([m[0] for m in made], axis=0), scores)


