"""The experiment around the pure cross-validation (``crossval``): what a run of a model would be
(``plan``), finding it among the run folders or making it (``obtain_run``, what ``submit`` and
``tune`` call), and making it (``run_cv``: the folder written through ``runs``, each fold as soon
as it ends, so that an interrupted run loses at most the folds in progress and ``--resume``
finishes the rest), for one model or several (``run_models``, what ``python -m competition.cv``
calls).
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from .. import runs
from ..data.records import Competition
from ..errors import InputError, InputWarning, ParameterError
from ..models import MODELS, check_seeds, keras_backend, make_model, public_params
from ..runs import matching, provenance
from ..workers import bounded
from . import cluster
from .crossval import cross_validate, refit_on_all_rows
from .folds import fold_rows, make_folds

BUDGET_SHARE = 0.85  # of a --time-budget, what training may use (``seconds_per_fit``)
MIN_FIT_SECONDS = 1  # a fit given less would stop after its first epoch, whatever its budget said
MAX_BUDGET_MINUTES = 525_600  # a year: more is a typo (or 1e308, which has no seconds)


class RunMismatchError(InputError):
    """``--resume`` was given a run whose data or configuration differs from the request."""


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



def fits_of(n_folds: int, seeds: int = 1, refit: bool = False) -> int:
    """The fits one run trains (each fold's seeds, and the refit's): the most jobs a cluster can
    run at once for it (``workers.bounded``)."""
    return seeds * (n_folds + bool(refit))


def resumable(run: runs.Run, config: dict, folds: np.ndarray) -> Path:
    """``run``'s folder, if it is the run ``config`` asks for on ``folds``, else ``RunMismatchError``."""
    mismatch = matching.differences(run.config, config)
    if mismatch:
        raise RunMismatchError(f"cannot resume {run.path}: " + "; ".join(mismatch))
    if not np.array_equal(run.folds(), folds):
        raise RunMismatchError(f"cannot resume {run.path}: its folds differ from the folds made now")
    return run.path


def start(runs_dir: str | Path, model: str, config: dict, folds: np.ndarray, labels: np.ndarray,
          twin: runs.Run | None, progress: bool) -> Path:
    """A new run folder; with a refit ``twin`` (``runs.lookup``), its folds copied in, not trained again."""
    if twin is not None:
        config["folds_from"] = str(twin.path)
    run_dir = runs.create(runs_dir, model, config, folds, labels)
    if twin is not None:
        copied = runs.copy_folds(twin.path, run_dir, config["folds"])
        if progress:
            print(f"{copied} of {config['folds']} folds copied from {twin.path} (the same recipe "
                  f"{'without' if config['refit'] else 'with'} --refit)", flush=True)
    return run_dir


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
    if resume:
        run_dir = resumable(runs.load_run(resume), config, folds)
    else:
        run_dir = start(runs_dir, model, config, folds, np.searchsorted(comp.classes, comp.y_train),
                        runs.lookup(runs_dir, config, folds).twin, progress)
    return train(estimator, folds, config, comp, run_dir, progress=progress, executor=executor)


def train(estimator, folds: np.ndarray, config: dict, comp: Competition, run_dir: Path, *, progress: bool = True,
          executor=None) -> runs.Run:
    """Train the folds (and the refit) that ``run_dir`` lacks, saving each as it ends, then finish
    the run folder (``runs.write_run``) and return it."""
    model, n_folds, seeds = config["model"], config["folds"], matching.setting(config, "seeds")
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
    if matching.setting(config, "refit"):
        refitted = runs.load_refit(run_dir)
        if refitted is None:
            if progress:
                print(f"refit: {model} on all {int((folds >= 0).sum()):,} rows", flush=True)
            used = folds >= 0
            refitted = refit_on_all_rows(estimator, comp.x_train[used], comp.y_train[used], comp.x_test, result.folds,
                                         seeds=seeds, classes=comp.classes, executor=executor)
            runs.save_refit(run_dir, refitted)
    return runs.write_run(None, model, config, folds, np.searchsorted(comp.classes, comp.y_train), result.folds,
                          refit=refitted, metric=comp.overview.metric, run_dir=run_dir)


@dataclass
class Obtained:
    run: runs.Run
    how: str  # "reused", "saved" (a cross-validation held in memory), "resumed" or "cross-validated"


def obtain_run(model: str, comp: Competition, *, n_folds: int = 5, seed: int = 87,
               params: dict[str, Any] | None = None, limit: int | None = None, seeds: int = 1, refit: bool = False,
               time_budget: float | None = None, runs_dir: str | Path = "runs", progress: bool = True, executor=None,
               workers: int | None = None, scheduler: str | None = None, origin: dict | None = None,
               prefer: Callable[[runs.Run], bool] | None = None,
               made: runs.CVResult | None = None, say: Callable[[str], None] | None = None) -> Obtained:
    """The run of this recipe, found or made, with one ``plan`` and one look-up of ``runs_dir``:
    the newest finished run of the recipe that ``prefer`` picks (tune: one of its own study), else
    ``made`` (a cross-validation of the recipe held in memory) written, else the newest finished run
    of the recipe, else the interrupted one finished, else a new cross-validation (``run_cv``'s,
    a refit twin's folds copied). The folds train on ``executor``, else on a cluster of ``workers``
    (no more than the run's fits: ``workers.bounded``) or at ``scheduler``, started only when there
    is something to train. ``say``: where to tell which it is (``submit``: print)."""
    estimator, folds, config = plan(model, comp, n_folds=n_folds, seed=seed, params=params, limit=limit, seeds=seeds,
                                    refit=refit, time_budget=time_budget)
    if origin is not None:
        config["origin"] = origin
    found = runs.lookup(runs_dir, config, folds)
    say = say or (lambda text: None)
    chosen = [run for run in found.matches if prefer is not None and prefer(run)]
    if chosen:
        return Obtained(chosen[-1], "reused")
    labels = np.searchsorted(comp.classes, comp.y_train)
    if made is not None:
        return Obtained(runs.write_run(runs_dir, model, config, folds, labels, made.folds,
                                       metric=comp.overview.metric), "saved")
    if found.finished:
        say(f"reusing {found.finished.path} (same model, parameters, seeds, data, folds and seed)")
        return Obtained(found.finished, "reused")
    if found.interrupted:
        say(f"resuming {found.interrupted.path} ({len(found.interrupted.done_folds)} of {n_folds} folds done)")
        run_dir = resumable(found.interrupted, config, folds)
    else:
        if found.twin is None:  # with a twin, ``start`` says which folds it copies
            say(f"no finished run of {model} with these settings in {runs_dir}: cross-validating first")
        run_dir = start(runs_dir, model, config, folds, labels, found.twin, progress)
    fits = fits_of(n_folds, seeds, refit)
    with nullcontext(executor) if executor is not None else cluster.executor(bounded(workers, fits), scheduler) as pool:
        run = train(estimator, folds, config, comp, run_dir, progress=progress, executor=pool)
    return Obtained(run, "resumed" if found.interrupted else "cross-validated")


def seconds_per_fit(model: str, minutes: float, n_folds: int, seeds: int, refit: bool) -> float:
    """Training seconds for each fit so that a run of ``minutes`` ends in time, its fits one after
    another (a cluster ends sooner): ``BUDGET_SHARE`` of it, the rest left for loading the data,
    building each network and predicting."""
    if "time_budget" not in make_model(model).get_params():
        takers = [name for name, spec in MODELS.items()
                  if spec.keras and "time_budget" in make_model(name).get_params()]
        raise ParameterError(f"--time-budget: model {model} takes no time budget (only {', '.join(takers)} do: "
                             "they stop training between epochs); leave --time-budget out")
    if minutes > MAX_BUDGET_MINUTES:
        raise ParameterError(f"--time-budget {minutes:g}: over a year ({MAX_BUDGET_MINUTES:,} minutes); give the "
                             "minutes the whole run may take, e.g. 30")
    fits = n_folds * seeds + (seeds * n_folds / (n_folds - 1) if refit else 0)  # a refit sees every row, not K-1 folds
    seconds = round(minutes * 60 * BUDGET_SHARE / fits, 1)
    if seconds < MIN_FIT_SECONDS:
        raise ParameterError(f"--time-budget {minutes:g}: leaves under {MIN_FIT_SECONDS} s of training for each of "
                             f"the run's {fits:g} fits; give at least "
                             f"{MIN_FIT_SECONDS * fits / 60 / BUDGET_SHARE:.2g} minutes")
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


