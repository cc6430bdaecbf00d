"""Cross-validate a model on the competition's folds, saving OOF and test probabilities.

    python -m competition.cv --model NAME [--data data/fashion-mnist] [--folds 5] [--seed 87]
                             [--param k=v ...] [--limit N] [--seeds N] [--refit] [--time-budget MINUTES]
                             [--runs-dir runs] [--resume RUN_DIR]
                             [--workers N | --scheduler ADDRESS] [--list] [--report] [--track mlflow]

Two layers, as scikit-learn's ``model_selection`` and nyaggle's ``cross_validate``/``run_experiment``:

- ``cross_validate(estimator, x, y, x_test, folds, *, executor=None, on_fold=None)`` is pure: one
  fresh copy of the model per fold (``sklearn.base.clone``), trained on the other folds' rows and
  scored on the held-out fold; returns a ``CVResult`` (OOF and fold-averaged test probabilities,
  scores, per-fold results) in memory. ``executor`` (anything with ``submit``, such as a
  ``concurrent.futures`` pool or a Dask client) runs the folds elsewhere; ``on_fold`` is called
  with each fold as it completes.
- ``run_cv(model, comp, ...)`` is the experiment: it builds the model, the folds and the config,
  saves the run folder through ``runs`` (each fold as soon as it ends, via ``on_fold``, so an
  interrupted run loses at most the folds in progress and ``--resume`` finishes the rest).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from .. import cli, extras
from . import cluster, matching, provenance, runs, scoring, track
from .cluster import with_threads
from ..data.loader import load_competition
from ..errors import InputError, InputWarning, ParameterError
from .folds import fold_rows, make_folds
from ..models import MODELS, check_seeds, keras_backend, make_model, missing, model_name, public_params, reseeded
from ..workers import bounded
from ..data.records import Competition

SEEDS_HELP = ("average N copies of each model whose seeds differ (random_state, random_state+1, ...) "
              "into one run (default 1); with --workers or --scheduler every seed of every fold runs at once")
REFIT_HELP = ("after the folds, train the model again on every training row (for as many epochs or rounds as "
              "the folds' early stopping kept) and predict the test set with it; the CV score stays the folds'")
BUDGET_SHARE = 0.85  # of a --time-budget, what training may use (``seconds_per_fit``)
MIN_FIT_SECONDS = 1  # a fit given less would stop after its first epoch, whatever its budget said
MAX_BUDGET_MINUTES = 525_600  # a year: more is a typo (or 1e308, which has no seconds)
TIME_BUDGET_HELP = ("minutes the whole run may take, its fits one after another: each fit's epochs are sized to "
                    "its share once the first epoch is timed (networks only)")


class FoldError(InputError):
    """A fold that failed where it ran (a cluster's worker, a pool's process); the folds that
    finished are saved, so ``--resume`` can try again."""


class RunMismatchError(InputError):
    """``--resume`` was given a run whose data or configuration differs from the request."""


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


@dataclass
class CVResult:
    """A cross-validation in memory: what ``runs.finish`` writes."""

    oof: np.ndarray  # (n_train, n_classes); NaN rows outside the folds
    test: np.ndarray  # (n_test, n_classes), the mean of the fold models' probabilities
    scores: dict  # per fold and overall (``scoring.summarise``)
    folds: list[runs.FoldResult]


def fit_fold(estimator, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, train: np.ndarray, held_out: np.ndarray,
             classes: np.ndarray, fold: int) -> runs.FoldResult:
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
    return runs.FoldResult(fold, held_out, proba, test_proba, scores, getattr(model, "history_", None))


def average_seeds(members: list[runs.FoldResult], y_held_out: np.ndarray) -> runs.FoldResult:
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
    return runs.FoldResult(first.fold, first.rows, proba, test_proba, scores, first.history)


def cross_validate(estimator, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, folds: np.ndarray, *,
                   seeds: int = 1, classes: np.ndarray | None = None, executor=None,
                   on_fold: Callable[[runs.FoldResult], None] | None = None,
                   done: list[runs.FoldResult] = ()) -> CVResult:
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
    arrived: dict[int, dict[int, runs.FoldResult]] = {fold: {} for fold in todo}

    def member_done(fold: int, k: int, result: runs.FoldResult) -> None:
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
        futures = {executor.submit(fit_fold, members[k], x, y, x_test, *fold_rows(folds, fold), classes, fold): (fold, k)
                   for fold, k in jobs}
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


def fit_all(estimator, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, dict]:
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


def refit_on_all_rows(estimator, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, folds: list[runs.FoldResult], *,
                      seeds: int = 1, classes: np.ndarray | None = None, executor=None) -> runs.RefitResult:
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
    return runs.RefitResult(np.mean([m[0] for m in made], axis=0), scores)


def make_config(model: str, estimator, overrides: dict, n_folds: int, seed: int, limit: int | None,
                comp: Competition, seeds: int = 1, refit: bool = False) -> dict:
    """Everything needed to reproduce or match a run (see ``matching``)."""
    return {
        "model": model,
        "params": public_params(estimator),
        "overrides": overrides,
        "folds": n_folds,
        "seed": seed,
        "seeds": seeds,
        "refit": refit,
        "limit": limit,
        "keras_backend": keras_backend(model),
        "data": {"path": str(comp.path.resolve()), "name": comp.name, "fingerprint": comp.fingerprint,
                 "train_rows": len(comp.y_train), "test_rows": len(comp.test_ids),
                 "image_shape": list(comp.image_shape), "classes": comp.classes.tolist()},
        "host": {"cores": os.cpu_count(), "machine": platform.machine(), "system": platform.system()},
        **provenance.record(),
    }


def plan(model: str, comp: Competition, *, n_folds: int = 5, seed: int = 87, params: dict[str, Any] | None = None,
         limit: int | None = None, seeds: int = 1, refit: bool = False,
         time_budget: float | None = None) -> tuple[Any, np.ndarray, dict]:
    """The estimator, the folds and the config a run of ``model`` on ``comp`` would have;
    ``time_budget`` (minutes for the whole run) becomes the model's own per-fit budget."""
    overrides = dict(params or {})
    if time_budget is not None:
        overrides["time_budget"] = seconds_per_fit(model, time_budget, n_folds, seeds, refit)
    estimator = make_model(model, **overrides)
    check_seeds(model, estimator, seeds)
    if limit is not None and limit >= len(comp.y_train):
        limit = None  # every row: the same folds, and the same run, as no limit
    folds = make_folds(comp.y_train, n_folds, seed, limit)
    return estimator, folds, make_config(model, estimator, overrides, n_folds, seed, limit, comp, seeds, refit)


def run_cv(model: str, comp: Competition, *, n_folds: int = 5, seed: int = 87, params: dict[str, Any] | None = None,
           limit: int | None = None, seeds: int = 1, refit: bool = False, time_budget: float | None = None,
           runs_dir: str | Path = "runs", resume: str | Path | None = None, progress: bool = True, executor=None,
           origin: dict | None = None) -> runs.Run:
    """Cross-validate ``model`` on ``comp`` into a run folder (new, or ``resume``: its missing folds)
    and return the finished run. ``seeds`` > 1 makes it one run whose probabilities average that
    many seeds of the model; ``refit`` trains it again on every row after the folds, for the test
    set's probabilities (``refit_on_all_rows``); ``time_budget``: minutes for the whole run
    (``plan``). ``origin``: where the recipe came from (a tuning study, say), kept in the config for
    people to read; not part of what a run must match."""
    estimator, folds, config = plan(model, comp, n_folds=n_folds, seed=seed, params=params, limit=limit, seeds=seeds,
                                    refit=refit, time_budget=time_budget)
    if origin is not None:
        config["origin"] = origin
    y = np.searchsorted(comp.classes, comp.y_train)
    if resume:
        run_dir = Path(resume)
        mismatch = matching.differences(runs.load_run(run_dir).config, config)
        if mismatch:
            raise RunMismatchError(f"cannot resume {run_dir}: " + "; ".join(mismatch))
        if not np.array_equal(runs.load_run(run_dir).folds(), folds):
            raise RunMismatchError(f"cannot resume {run_dir}: its folds differ from the folds made now")
    else:
        twin = twin_run(runs_dir, config, folds)
        if twin is not None:
            config["folds_from"] = str(twin.path)
        run_dir = runs.create(runs_dir, model, config, folds, y)
        if twin is not None:
            copied = runs.copy_folds(twin.path, run_dir, n_folds)
            if progress:
                print(f"{copied} of {n_folds} folds copied from {twin.path} (the same recipe "
                      f"{'without' if refit else 'with'} --refit)", flush=True)
    done = []
    for fold in range(n_folds):
        saved = runs.load_fold(run_dir, fold)
        why = saved and runs.fold_problem(saved, fold_rows(folds, fold)[1], len(comp.test_ids), len(comp.classes))
        if why:
            warnings.warn(f"{run_dir}: fold {fold} is damaged ({why}); it will be computed again", InputWarning,
                          stacklevel=2)
        elif saved is not None:
            done.append(saved)
    bar = tqdm(total=n_folds, initial=len(done), desc=f"{model} folds", unit="fold", disable=not progress,
               file=sys.stdout)
    scored = [r.scores["accuracy"] for r in done]

    def save(result: runs.FoldResult) -> None:
        runs.save_fold(run_dir, result)
        scored.append(result.scores["accuracy"])
        bar.write(f"{model} fold {result.fold}: held-out accuracy {result.scores['accuracy']:.4f}, log loss "
                  f"{result.scores['log_loss']:.4f} ({runs.format_seconds(result.scores['fit_seconds'])} to train)")
        bar.set_postfix_str(f"mean held-out accuracy of {len(scored)} fold(s) {np.mean(scored):.4f}", refresh=False)
        bar.update()

    try:
        result = cross_validate(estimator, comp.x_train, comp.y_train, comp.x_test, folds, seeds=seeds,
                                classes=comp.classes, executor=executor, on_fold=save, done=done)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {len(scored)} of {n_folds} folds are saved; finish with "
              f"python -m competition.cv --resume {run_dir}", file=sys.stderr)
        raise
    finally:
        bar.close()
    refitted = None
    if refit:
        refitted = runs.load_refit(run_dir)
        if refitted is None:
            if progress:
                print(f"refit: {model} on all {int((folds >= 0).sum()):,} rows", flush=True)
            used = folds >= 0
            refitted = refit_on_all_rows(estimator, comp.x_train[used], comp.y_train[used], comp.x_test, result.folds,
                                         seeds=seeds, classes=comp.classes, executor=executor)
            runs.save_refit(run_dir, refitted)
    runs.finish(run_dir, result.folds,
                scoring.summarise(result.folds, y, len(comp.classes), refitted, comp.overview.metric))
    return runs.load_run(run_dir)


def twin_run(runs_dir: str | Path, config: dict, folds: np.ndarray) -> runs.Run | None:
    """A finished run that differs from ``config`` only in ``refit``: its folds are the ones this
    run would train (a refit adds one model after the same folds), so ``submit --refit`` after
    ``make submit`` trains the refit alone, and the reverse trains nothing."""
    twin = runs.find_matching(runs_dir, {**config, "refit": not config["refit"]})
    try:
        return twin if twin is not None and np.array_equal(twin.folds(), folds) else None
    except runs.RunError:  # a damaged folds.npy: train the folds rather than trust its fold files
        return None


def seconds_per_fit(model: str, minutes: float, n_folds: int, seeds: int, refit: bool) -> float:
    """Training seconds for each fit so that a run of ``minutes`` ends in time, its fits one after
    another (a cluster ends sooner): ``BUDGET_SHARE`` of it, the rest left for loading the data,
    building each network and predicting."""
    if "time_budget" not in make_model(model).get_params():
        takers = [name for name, spec in MODELS.items() if spec.keras and "time_budget" in make_model(name).get_params()]
        raise ParameterError(f"--time-budget: model {model} takes no time budget (only {', '.join(takers)} do: "
                             "they stop training between epochs); leave --time-budget out")
    if minutes > MAX_BUDGET_MINUTES:
        raise ParameterError(f"--time-budget {minutes:g}: over a year ({MAX_BUDGET_MINUTES:,} minutes); give the "
                             "minutes the whole run may take, e.g. 30")
    fits = n_folds * seeds + (seeds * n_folds / (n_folds - 1) if refit else 0)  # a refit sees every row, not K-1 folds
    seconds = round(minutes * 60 * BUDGET_SHARE / fits, 1)
    if seconds < MIN_FIT_SECONDS:
        raise ParameterError(f"--time-budget {minutes:g}: leaves under {MIN_FIT_SECONDS} s of training for each of the "
                             f"run's {fits:g} fits; give at least {MIN_FIT_SECONDS * fits / 60 / BUDGET_SHARE:.2g} minutes")
    return seconds


def check_models(models: list[str], params: dict | None, seeds: int = 1, time_budget: float | None = None,
                 n_folds: int = 2, refit: bool = False) -> None:
    """Every model takes ``params`` (and has a seed to vary, for ``seeds`` > 1, and a time budget,
    for ``time_budget``), or an error names the first that does not."""
    for model in models:
        try:
            check_seeds(model, make_model(model, **(params or {})), seeds)
            if time_budget is not None:
                seconds_per_fit(model, time_budget, n_folds, seeds, refit)
        except InputError as exc:
            raise type(exc)(f"--model {model}: {exc}" if len(models) > 1 else str(exc)) from None


def run_models(models: list[str], comp: Competition, *, executor=None, **options) -> list[runs.Run]:
    """``run_cv`` of each model, each into its own run folder. On an executor every model's folds are
    submitted at once (one thread per model hands its folds to the shared executor and saves them as
    they come back); in-process the models run one after another. ``params`` apply to every model:
    all are checked before any starts."""
    check_models(models, options.get("params"), options.get("seeds", 1), options.get("time_budget"),
                 options.get("n_folds", 5), options.get("refit", False))
    if executor is None or len(models) == 1:
        return [run_cv(model, comp, executor=executor, **options) for model in models]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(models)) as threads:
        futures = [threads.submit(run_cv, model, comp, executor=executor, **{**options, "progress": False})
                   for model in models]
        return [future.result() for future in futures]


def list_models() -> str:
    """Each model, what it is and its default parameters; one whose libraries are missing is marked
    with what to install (its parameters are its library's, so they cannot be shown)."""
    lines = []
    for spec in MODELS.values():
        lacking = missing(spec.name)
        if lacking:
            shown = f"not installed: {extras.missing_message(lacking[0], 'it')}"
        else:
            params = public_params(spec.build())
            shown = ", ".join(f"{k}={v}" for k, v in params.items() if v is not None)
        lines.append(f"{spec.name:<9} {spec.summary}\n          {shown}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m competition.cv", description="Cross-validate a model on stratified folds; "
        "save out-of-fold and test probabilities under runs/.",
        epilog="example: python -m competition.cv --model xgb --param max_depth=8 --limit 5000")
    parser.add_argument("--model", nargs="+", type=model_name, choices=list(MODELS), metavar="NAME",
                        help="model(s) to cross-validate, each into its own run folder (see --list); with "
                             "--workers or --scheduler all their folds go to the cluster at once")
    # no defaults here: --resume takes the resumed run's (resolve_args)
    cli.add_data(parser, default=None)
    cli.add_folds(parser, default=None)
    cli.add_seed(parser, default=None)
    cli.add_param(parser)
    cli.add_limit(parser)
    parser.add_argument("--seeds", type=cli.int_at_least(1), default=None, metavar="N",
                        help=SEEDS_HELP)
    parser.add_argument("--refit", action="store_true", default=None, help=REFIT_HELP)
    parser.add_argument("--time-budget", type=cli.positive_number, default=None, metavar="MINUTES",
                        help=TIME_BUDGET_HELP)
    cli.add_runs_dir(parser)
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="finish the missing folds of an interrupted run")
    cli.add_cluster(parser)
    parser.add_argument("--list", action="store_true", help="list the models and their default parameters")
    parser.add_argument("--report", action="store_true", help="draw the run's report (competition.report) when it ends")
    parser.add_argument("--track", choices=["mlflow"], help="log each finished run to MLflow (MLFLOW_TRACKING_URI "
                        "says where; needs pip install 'competition[tracking]'), after its folder is saved")
    return parser


def resolve_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """Arguments for ``cross_validate``; with ``--resume`` the run's own settings fill the gaps."""
    saved = runs.load_run(args.resume).config if args.resume else {}
    models = args.model or [saved.get("model")]
    if not models[0]:
        parser.error("--model is required (or --resume RUN_DIR)")
    if len(models) > 1 and args.resume:
        parser.error("--resume finishes one run: give it one --model, or none")
    params = dict(args.param) if args.param else saved.get("overrides", {})
    data = args.data
    if data is None and saved:
        data = Path(saved["data"].get("path", ""))
        if not data.is_dir():
            raise RunMismatchError(f"{args.resume}: was made on the data at {str(data)!r}, which is not a folder from "
                                   "here; name the competition folder with --data")
    return {
        "models": models,
        "data": data or cli.DATA,
        "n_folds": args.folds or saved.get("folds", cli.FOLDS),
        "seed": args.seed if args.seed is not None else saved.get("seed", cli.SEED),
        "params": params,
        "limit": args.limit if args.limit is not None else saved.get("limit"),
        "seeds": args.seeds or matching.setting(saved, "seeds"),
        "refit": args.refit or matching.setting(saved, "refit"),
        "time_budget": args.time_budget,
    }


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(list_models())
        return 0
    options = resolve_args(args, parser)
    models = options.pop("models")
    if args.track:
        track.require()  # a missing MLflow is said before the cross-validation, not after
    cluster.require(args.workers, args.scheduler)  # and a missing Dask
    check_models(models, options["params"], options["seeds"], options["time_budget"], options["n_folds"],
                 options["refit"])  # before a cluster starts or any data is read
    comp = load_competition(options.pop("data"), min_class_rows=options["n_folds"])
    start = time.perf_counter()
    fits = len(models) * options["seeds"] * (options["n_folds"] + bool(options["refit"]))
    with cluster.executor(bounded(args.workers, fits), args.scheduler) as executor:
        made = run_models(models, comp, executor=executor, runs_dir=args.runs_dir, resume=args.resume, **options)
    for run in made:
        s = run.scores
        metric = scoring.metric_scores(run, comp.overview.metric)
        scored = "" if metric["metric"] == "accuracy" else (f"{metric['metric']} {metric['score_mean']:.4f} +- "
                                                            f"{metric['score_std']:.4f} (OOF {metric['oof_score']:.4f}), ")
        print(f"{run.config['model']} {run.config['folds']}-fold {scored}accuracy {s['accuracy_mean']:.4f} +- "
              f"{s['accuracy_std']:.4f}, log loss {s['oof_log_loss']:.4f}, "
              f"{runs.format_seconds(time.perf_counter() - start)} -> {run.path}")
        if args.report:
            from ..analysis.report import run_report

            print(f"report: {run_report(run.path, comp=comp)}")
    if args.track:
        track.log_runs(made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
