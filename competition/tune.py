"""Tune a model's parameters with Optuna on the competition's own folds; save the best as a run.

    python -m competition.tune --model NAME [--data DIR] [--folds K] [--seed S] [--limit N]
                               [--param k=v ...] [--trials N] [--timeout SECONDS] [--runs-dir DIR]
                               [--workers N | --scheduler ADDRESS] [--jobs N] [--track mlflow]

Every trial cross-validates one set of parameters (``cv.crossval.cross_validate``) on the same folds as
every run (``cv.obtain.plan``), so a trial's score is comparable with any run's. The objective is the mean
fold score in the competition's metric (accuracy unless its overview names another), in the metric's
direction; the mean fold log loss breaks ties (and then the earlier trial wins): Optuna optimises the
score alone, and ``best_trial`` picks by ``(score, -log loss)``.

- The space: each model's ``ModelSpec.space`` in the registry (``models.spaces``); ``--param``
  fixes a parameter and takes it out of the search. A new study's first trial is the model's
  defaults, wherever the space holds them.
- A trial whose recipe a finished run under RUNS already holds (``runs.lookup``, ``matching``'s one
  rule) takes that run's scores and trains nothing: often the first trial, the defaults.
- Pruning per fold: after each fold the running mean score is reported (``trial.report``, the
  step is the number of folds done) and Optuna's median pruner stops a trial whose running mean is
  below the median of earlier trials' at the same step. Not Optuna's library callbacks (LightGBM's
  or Keras' pruning callbacks): inside one trial every fold would report to the same steps.
- The study lives in ``RUNS/studies/<model>-<data fingerprint>-f<K>-s<seed>[-l<limit>][-p<hash of
  the fixed parameters>]/`` (a different recipe or data is a different study): ``study.db``
  (SQLite) for one process, or ``study.journal`` (Optuna's journal file) when ``--jobs`` runs trials
  in parallel; running the same command again continues it. Beside it ``history.png`` and
  ``importances.png`` (Optuna's matplotlib plots).
- The best trial becomes an ordinary run folder (``runs``) whose ``config.json`` names the study and
  the trial under ``origin``, so ``submit --run``, ensembles and the leaderboard take it like any
  other: written from memory when the trial ran in this process, else reused (a matching finished
  run) or cross-validated again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sqlite3
import sys
import threading
import time
import warnings
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from . import cli, extras, runs
from .cv import cluster, crossval, obtain, track
from .data import metrics
from .data.loader import load_competition
from .data.records import Competition
from .errors import InputError
from .fsutil import ensure_dir, write_picture
from .models import MODELS, make_model, model_name, public_params
from .runs import matching, scoring
from .workers import bounded

STUDIES = "studies"  # under the runs folder: one folder per study (no config.json: not a run)
STUDY_FILES = ("study.db", "study.journal")  # SQLite for one process, the journal for parallel trials
HISTORY, IMPORTANCES = "history.png", "importances.png"
DEFAULT_TRIALS = 20  # without --trials or --timeout
PRUNER_STARTUP = 5  # trials that finish before any is pruned (Optuna's MedianPruner default)
TOP = 10  # trials in the printed table
LOCK_WAIT = 5.0  # seconds to wait for a study file another process holds locked (SQLite's own default)


class StudyError(InputError):
    """A study that cannot be used (not a study, locked, damaged, of another recipe), or a model
    that cannot be tuned; the message names the file or the model."""


def import_optuna():
    """Optuna (the ``tune`` extra), its per-trial log silenced in favour of the progress bar (a
    failed trial's error reaches the user as one line anyway)."""
    optuna = extras.require("optuna", "tuning (competition tune)")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def search_space(model: str, fixed: dict[str, Any], space: dict | None = None) -> dict:
    """The dimensions to search: the model's space (or ``space``) less the ``fixed`` parameters."""
    if space is None:
        space = MODELS[model].space
    if space is None:
        plain = model.removesuffix("-blog")
        hint = f"; tune {plain} instead" if MODELS.get(plain) and MODELS[plain].space else ""
        raise StudyError(f"model {model} has no search space (it is kept as published){hint}")
    searched = {name: dim for name, dim in space.items() if name not in fixed}
    if not searched:
        raise StudyError(f"--param fixes every parameter {model} searches ({', '.join(space)}): nothing left to tune")
    return searched


def jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """Tuples as lists: what JSON (and Optuna's user attributes) keep."""
    return {name: list(value) if isinstance(value, tuple) else value for name, value in params.items()}


def study_name(config: dict, fixed: dict[str, Any], metric: str = metrics.DEFAULT) -> str:
    """The study's name: everything a trial's score depends on besides its own parameters (the
    metric named unless it is accuracy, so that the studies made before metrics keep their name)."""
    name = f"{config['model']}-{config['data']['fingerprint'][:12]}-f{config['folds']}-s{config['seed']}"
    if metric != metrics.DEFAULT:
        name += f"-{metric}"
    if config["limit"]:
        name += f"-l{config['limit']}"
    if fixed:
        name += "-p" + hashlib.sha256(json.dumps(jsonable(fixed), sort_keys=True, default=str).encode()).hexdigest()[:8]
    return name


def study_record(config: dict, fixed: dict[str, Any], metric: str = metrics.DEFAULT) -> dict:
    """What a study records about itself, and checks when it is continued."""
    return {**matching.study_identity(config), "fixed": jsonable(fixed),
            **({"metric": metric} if metric != metrics.DEFAULT else {})}


def study_metric(study) -> metrics.Metric:
    """The metric a study optimises (accuracy for a study made before metrics)."""
    return metrics.get((study.user_attrs.get("competition") or {}).get("metric", metrics.DEFAULT))


def default_trial(model: str, fixed: dict[str, Any], space: dict) -> dict[str, Any]:
    """The trial parameters that reproduce the model's defaults, for each dimension that holds them."""
    shown = public_params(make_model(model, **fixed))
    return {key: value for name, dim in space.items() for key, value in dim.encode(name, shown.get(name)).items()}


def check_sqlite(path: Path) -> None:
    """``path`` (if it exists) is an SQLite file holding Optuna's tables, else a ``StudyError``: a
    file that is not a study is left untouched, never made into one."""
    if not path.exists() or path.stat().st_size == 0:  # new, or left empty by a process killed as it began
        return
    try:
        with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=LOCK_WAIT)) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        why = "it is locked by another process" if "locked" in str(exc) else f"not a readable study: {exc}"
        raise StudyError(f"{path}: {why}") from None
    if not {"studies", "trials", "version_info"} <= tables:
        raise StudyError(f"{path}: an SQLite file, but not an Optuna study; it is left untouched")


def check_journal(path: Path) -> None:
    """``path`` (if it exists) is Optuna's journal: one JSON operation per line (a last line cut
    short by a crash is allowed, as Optuna allows it)."""
    if not path.exists():
        return
    lines = path.read_bytes().split(b"\n")
    for number, line in enumerate(lines[:-1], start=1):  # the last: b"" after a final newline, or a cut-off line
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or "op_code" not in entry:
            raise StudyError(f"{path}: line {number} is not an Optuna journal entry; the file is left untouched")


def study_file(folder: Path, jobs: int) -> Path:
    """The study's file in ``folder``: the one there, else ``study.journal`` for parallel trials
    (``jobs`` > 1) or ``study.db``. A folder holding other files but no study is refused."""
    existing = [folder / name for name in STUDY_FILES if (folder / name).exists()]
    if not existing and folder.is_dir() and any(folder.iterdir()):
        raise StudyError(f"{folder}: holds files but no study ({' or '.join(STUDY_FILES)}); it is left untouched")
    path = existing[0] if existing else folder / STUDY_FILES[1 if jobs > 1 else 0]
    (check_journal if path.suffix == ".journal" else check_sqlite)(path)
    return path


def open_storage(path: Path):
    import optuna

    if path.suffix == ".journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(path)))
    return optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def trial_problem(trial) -> str | None:
    """Why a stored trial cannot be used (a finished trial's score, log loss or parameters, or a
    reported running mean, that is not a number), or None."""
    from optuna.trial import TrialState

    where = f"trial {trial.number}"
    if not all(_is_number(value) for value in trial.intermediate_values.values()):
        return f"{where} holds a reported score that is not a number"
    if trial.state != TrialState.COMPLETE:
        return None
    if not (_is_number(trial.value) and math.isfinite(trial.value)):
        return f"{where} is finished with score {trial.value!r}, not a number"
    if not _is_number(trial.user_attrs.get("log_loss", 0.0)):
        return f"{where} holds log loss {trial.user_attrs['log_loss']!r}, not a number"
    if not isinstance(trial.user_attrs.get("params"), dict):
        return f"{where} holds no parameters (params {trial.user_attrs.get('params')!r})"
    return None


def open_study(path: Path, name: str, ident: dict, *, pruner=None, seed: int = cli.SEED):
    """The study ``name`` in the file ``path``, created (recording ``ident``) or continued (checking
    it). The sampler's seed moves with the number of trials held, so a continued study draws new
    points, not the first session's again."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    try:
        study = optuna.create_study(storage=open_storage(path), study_name=name, load_if_exists=True,
                                    direction=metrics.get(ident.get("metric", metrics.DEFAULT)).direction)
    except (SQLAlchemyError, optuna.exceptions.StorageInternalError, ValueError, KeyError,
            RuntimeError) as exc:  # damaged, locked, or another Optuna version's schema
        raise StudyError(f"{path}: cannot be opened as a study ({type(exc).__name__}: {exc})") from None
    try:  # Optuna reads a stored value only when asked: a damaged one (text for a number, NULL) fails here
        saved, trials = study.user_attrs.get("competition"), study.get_trials(deepcopy=False)
    except (SQLAlchemyError, ValueError, TypeError, LookupError, AssertionError) as exc:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__}: a value is missing"
        raise StudyError(f"{path}: holds a damaged value ({what}); it is left untouched: move it away to start the "
                         "study anew") from None
    problem = next(filter(None, map(trial_problem, trials)), None)
    if problem:
        raise StudyError(f"{path}: {problem}; it is left untouched: move it away to start the study anew")
    if saved is None and not study.trials:
        study.set_user_attr("competition", ident)
    elif saved != ident:
        differ = [f"{key}: study has {(saved or {}).get(key)!r}, now {value!r}" for key, value in ident.items()
                  if (saved or {}).get(key) != value]
        raise StudyError(f"{path}: study {name} was made for another recipe or data ({'; '.join(differ)})")
    study.sampler = optuna.samplers.TPESampler(seed=cli.wrap_seed(seed + len(study.trials)))
    study.pruner = pruner or optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP, n_warmup_steps=0)
    return study


def rank(trial, metric: metrics.Metric = metrics.get(metrics.DEFAULT)) -> tuple:
    """Higher is better: the metric (in its direction), then lower log loss, then the earlier trial."""
    return -metric.loss(trial.value), -trial.user_attrs.get("log_loss", math.inf), -trial.number


def best_trial(study):
    """The best finished trial (``rank``), or None."""
    from optuna.trial import TrialState

    metric = study_metric(study)
    return max(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: rank(t, metric),
               default=None)


def state_counts(study) -> Counter:
    return Counter(trial.state.name for trial in study.get_trials(deepcopy=False))


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in params.items())


def describe_study(study, path: Path) -> str:
    """``study PATH: N trials (M pruned), best METRIC A (log loss L) at trial T with k=v, ...``."""
    counts = state_counts(study)
    others = (("FAIL", "failed"), ("RUNNING", "running or killed"), ("WAITING", "queued"))
    parts = [f"{counts['PRUNED']} pruned"] + [f"{counts[state]} {word}" for state, word in others if counts[state]]
    head = f"study {path.parent}: {sum(counts.values())} trials ({', '.join(parts)})"
    best = best_trial(study)
    if best is None:
        return head + ", none finished yet"
    return (f"{head}, best {study_metric(study).name} {best.value:.4f} "
            f"(log loss {best.user_attrs.get('log_loss', math.nan):.4f}) "
            f"at trial {best.number} with {format_params(best.params)}")


def top_trials(study, n: int = TOP) -> str:
    """A table of the ``n`` best finished trials: the metric's score, log loss, parameters, seconds."""
    import pandas as pd
    from optuna.trial import TrialState

    metric = study_metric(study)
    done = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: rank(t, metric),
                  reverse=True)[:n]
    table = pd.DataFrame([{"trial": t.number, metric.name: t.value, "log_loss": t.user_attrs.get("log_loss"),
                           **t.params, "seconds": t.duration.total_seconds() if t.duration else math.nan}
                          for t in done])
    patterns = {metric.name: "{:.4f}", "log_loss": "{:.4f}", "seconds": "{:.1f}"}
    formats = {col: number_format(patterns.get(col, "{:.4g}")) for col in table.columns if col != "trial"}
    return table.to_string(index=False, formatters=formats)


def number_format(pattern: str):
    """A table column's formatter: floats by ``pattern``, anything else (ints, None, text) as it is."""
    return lambda value: pattern.format(value) if isinstance(value, float) else str(value)


def draw_pictures(study, folder: Path) -> tuple[list[Path], list[str]]:
    """Optuna's optimisation history and parameter importances as PNGs in ``folder``; the second
    needs two finished trials whose parameters differ (else it is skipped, and the reason given)."""
    import matplotlib

    matplotlib.use("Agg")
    import optuna
    from optuna.trial import TrialState
    from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    drawn, skipped = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if done:
            ax = plot_optimization_history(study, target_name=f"CV {study_metric(study).name}")
            drawn.append(write_picture(folder / HISTORY, ax.figure))
        varied = any(len({repr(t.params.get(name)) for t in done}) > 1 for name in {n for t in done for n in t.params})
        if len(done) < 2 or not varied:
            skipped.append("parameter importances: need 2 finished trials whose parameters differ")
        else:
            try:
                ax = plot_param_importances(study, target_name=f"CV {study_metric(study).name}")
                drawn.append(write_picture(folder / IMPORTANCES, ax.figure))
            except (ValueError, RuntimeError) as exc:
                skipped.append(f"parameter importances: {exc}")
    return drawn, skipped


@dataclass
class Kept:
    """The best trial run in this process, kept in memory, so that its run folder needs no second
    cross-validation. Thread-safe: with ``--jobs`` trials finish in several threads."""

    key: tuple | None = None
    number: int = -1
    result: runs.CVResult | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def offer(self, key: tuple, number: int, result: runs.CVResult) -> None:
        with self.lock:
            if self.key is None or key > self.key:
                self.key, self.number, self.result = key, number, result


def make_objective(model: str, comp: Competition, folds: np.ndarray, fixed: dict[str, Any], space: dict,
                   executor=None, kept: Kept | None = None, finished_run=None, progress: bool = False):
    """The objective of one trial: draw the parameters, check them (``make_model``), cross-validate
    on ``folds`` reporting the running mean score (the competition's metric) after each fold (pruned
    when the pruner says so), and return the mean fold score (the mean log loss, accuracy and the
    score's std are kept as user attributes).
    ``finished_run(params)``: a finished run of the trial's recipe, if there is one; its scores are
    taken instead of training again (a study's first trial, the defaults, has often been run by
    ``cv`` or ``submit`` already: for the cnn, all of a `make submit`'s training saved)."""
    import optuna

    quiet = {"verbose": 0} if MODELS[model].keras and "verbose" not in fixed else {}  # the bar, not epoch lines

    metric = comp.overview.scorer
    y = np.searchsorted(comp.classes, comp.y_train)

    def objective(trial) -> float:
        params = {**fixed, **{name: dim.suggest(trial, name) for name, dim in space.items()}}
        trial.set_user_attr("params", jsonable(params))
        estimator = make_model(model, **params, **quiet)  # refuses an impossible value before training
        fold_scores: list[float] = []  # each fold's score in the competition's metric (accuracy by default)

        def report(fold_score: float) -> None:
            fold_scores.append(fold_score)
            trial.report(float(np.mean(fold_scores)), step=len(fold_scores) - 1)

        earlier = finished_run(params) if finished_run else None
        if earlier is not None:
            if progress:
                tqdm.write(f"trial {trial.number}: the recipe of {earlier.path}, already cross-validated: its scores "
                           "taken, nothing trained", file=sys.stdout)
            trial.set_user_attr("run", str(earlier.path))
            scored = scoring.metric_scores(earlier, metric.name)
            for fold_score in scored["fold_scores"]:
                report(fold_score)  # for the pruner's medians; a finished run is never pruned
            scores = earlier.scores
        else:
            def report_or_prune(fold: runs.FoldResult) -> None:
                report(metric.from_probabilities(y[fold.rows], fold.proba))
                if trial.should_prune():
                    raise optuna.TrialPruned(f"mean {metric.name} {np.mean(fold_scores):.4f} after {len(fold_scores)} "
                                             "folds")

            result = crossval.cross_validate(estimator, comp.x_train, comp.y_train, comp.x_test, folds,
                                       classes=comp.classes, executor=executor, on_fold=report_or_prune)
            scores = result.scores
            scored = metrics.cv_scores(metric, result.oof, y, folds)
            if kept is not None:
                kept.offer((-metric.loss(scored["score_mean"]), -scores["log_loss_mean"], -trial.number), trial.number,
                           result)
        trial.set_user_attr("log_loss", scores["log_loss_mean"])
        trial.set_user_attr("accuracy", scores["accuracy_mean"])
        trial.set_user_attr("accuracy_std", scores["accuracy_std"])
        trial.set_user_attr("score_std", scored["score_std"])
        return scored["score_mean"]

    return objective


class Progress:
    """A bar over trials (an Optuna callback) showing the best score so far and how many were pruned."""

    def __init__(self, total: int | None, model: str, enabled: bool):
        self.bar = tqdm(total=total, desc=f"{model} trials", unit="trial", disable=not enabled, file=sys.stdout)

    def __call__(self, study, trial) -> None:
        best, counts = best_trial(study), state_counts(study)
        self.bar.update()
        self.bar.set_postfix_str((f"best {best.value:.4f} (trial {best.number}), " if best else "")
                                 + f"pruned {counts['PRUNED']}")

    def close(self) -> None:
        self.bar.close()


def save_best(model: str, comp: Competition, best, kept: Kept, origin: dict, *, n_folds: int, seed: int,
              limit: int | None, runs_dir: Path, executor=None, progress: bool = True) -> tuple[runs.Run, str]:
    """The best trial as a finished run folder (``cv.obtain_run``), and how it came to be: a matching
    run of this study (reused), the trial's cross-validation in memory (saved), another matching
    run (reused), or a new cross-validation."""
    def ours(run: runs.Run) -> bool:
        return (run.config.get("origin") or {}).get("study") == origin["study"]

    got = obtain.obtain_run(model, comp, n_folds=n_folds, seed=seed, params=best.user_attrs["params"], limit=limit,
                            runs_dir=runs_dir, executor=executor, progress=progress, origin=origin, prefer=ours,
                            made=kept.result if kept.number == best.number else None)
    if got.how == "reused":
        return got.run, "reused, from this study" if ours(got.run) else "reused, an earlier run of the same recipe"
    return got.run, got.how


@dataclass
class Tuned:
    study: Any
    path: Path  # the study's file
    best: Any | None  # the best finished trial
    run: runs.Run | None  # its run folder
    how: str  # how the run folder came to be
    pictures: list[Path]
    skipped: list[str]
    started: int = 0  # trials the study held before this session


def say(progress: bool, text: str) -> None:
    if progress:
        print(text, flush=True)


def tune(model: str, comp: Competition, *, n_folds: int = cli.FOLDS, seed: int = cli.SEED,
         fixed: dict[str, Any] | None = None, limit: int | None = None, n_trials: int | None = DEFAULT_TRIALS,
         timeout: float | None = None, runs_dir: str | Path = cli.RUNS, executor=None, jobs: int = 1,
         pruner=None, space: dict | None = None, progress: bool = True) -> Tuned:
    """Run ``n_trials`` more trials (or until ``timeout`` seconds, whichever first) of ``model``'s
    study on ``comp``, then draw its pictures and save its best trial as a run folder.
    ``jobs``: trials at once, in threads of this process, their folds on ``executor`` (the command
    line insists on a cluster: Keras keeps global state per process). ``pruner``/``space``: Optuna's
    pruner and a search space other than the defaults."""
    import_optuna()
    fixed = dict(fixed or {})
    space = search_space(model, fixed, space)
    _, folds, config = obtain.plan(model, comp, n_folds=n_folds, seed=seed, params=fixed, limit=limit)
    limit, runs_dir = config["limit"], Path(runs_dir)
    metric = comp.overview.metric
    name = study_name(config, fixed, metric)
    folder = ensure_dir(ensure_dir(runs_dir, "runs folder") / STUDIES, "studies folder") / name
    path = study_file(folder, jobs)
    folder.mkdir(exist_ok=True)
    study = open_study(path, name, study_record(config, fixed, metric), pruner=pruner, seed=seed)
    started = len(study.trials)
    new = not started
    say(progress, f"{'new' if new else 'continuing'} {describe_study(study, path)}")
    if new:  # the first trial: the model's defaults, wherever the space holds them
        study.enqueue_trial(default_trial(model, fixed, space))
    say(progress, "searching " + "; ".join(f"{n} {d}" for n, d in space.items())
        + (f"; fixed {format_params(fixed)}" if fixed else ""))
    kept = Kept()

    def finished_run(params: dict[str, Any]) -> runs.Run | None:
        return runs.lookup(runs_dir, obtain.plan(model, comp, n_folds=n_folds, seed=seed, params=params,
                                                 limit=limit)[2]).finished

    bar = Progress(n_trials, model, progress)
    try:
        study.optimize(make_objective(model, comp, folds, fixed, space, executor, kept, finished_run, progress),
                       n_trials=n_trials, timeout=timeout, n_jobs=jobs, callbacks=[bar])
    except KeyboardInterrupt:
        bar.close()
        print(f"\ninterrupted: {describe_study(study, path)}; the same command continues the study", file=sys.stderr)
        raise
    finally:
        bar.close()
    best = best_trial(study)
    if best is None:
        return Tuned(study, path, None, None, "", [], [], started)
    pictures, skipped = draw_pictures(study, folder)
    origin = {"tool": "competition.tune", "study": str(path.resolve()), "study_name": name, "trial": best.number,
              "accuracy": best.user_attrs.get("accuracy", best.value), "log_loss": best.user_attrs.get("log_loss"),
              **({"metric": metric, "score": best.value} if metric != metrics.DEFAULT else {})}
    run, how = save_best(model, comp, best, kept, origin, n_folds=n_folds, seed=seed, limit=limit, runs_dir=runs_dir,
                         executor=executor, progress=progress)
    return Tuned(study, path, best, run, how, pictures, skipped, started)


def log_study(tuned: Tuned, experiment: str, model: str) -> None:
    """The study as an MLflow parent run (found again when the study continues) with its best run
    folder nested under it."""
    parent = track.start_parent(experiment, f"study {tuned.path.parent.name}", key=str(tuned.path.resolve()),
                                params={"model": model, "study": str(tuned.path)})
    track.log_runs([tuned.run], parent=parent, tags={"optuna.study": str(tuned.path),
                                                      "optuna.trial": str(tuned.best.number)})
    track.finish_parent(parent, {f"best_{study_metric(tuned.study).name}": float(tuned.best.value),
                                 "trials": float(len(tuned.study.trials))})


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m competition.tune",
        description="Tune a model's parameters with Optuna on the competition's folds (pruning hopeless trials "
                    "after each fold), keep the study under RUNS/studies/ (the same command continues it) and save "
                    "the best trial as an ordinary run folder.",
        epilog="examples:\n  python -m competition.tune --model lgbm --trials 30\n"
               "  python -m competition.tune --model cnn --timeout 3600 --param epochs=10 --workers 2 --jobs 2",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=model_name, choices=[m for m in MODELS], metavar="NAME",
                        help="model to tune (python -m competition.cv --list; the blog's recipes have no search space)")
    cli.add_data(parser)
    cli.add_folds(parser)
    cli.add_seed(parser, also=" and of the sampler")
    cli.add_param(parser, also=": fixed, out of the search; another set of fixed parameters is another study")
    cli.add_limit(parser)
    parser.add_argument("--trials", type=cli.int_at_least(1), default=None, metavar="N",
                        help=f"run N more trials (default {DEFAULT_TRIALS}, or as many as --timeout allows)")
    parser.add_argument("--timeout", type=cli.int_at_least(1), default=None, metavar="SECONDS",
                        help="start no trial after this many seconds (the one running finishes)")
    cli.add_runs_dir(parser, also=f"; the study goes to DIR/{STUDIES}/")
    cli.add_cluster(parser)
    parser.add_argument("--jobs", type=cli.int_at_least(1), default=1, metavar="N",
                        help="trials at once, their folds all on the cluster (needs --workers or --scheduler; "
                             "a new study then keeps Optuna's journal file instead of SQLite)")
    parser.add_argument("--track", choices=["mlflow"],
                        help="log the study to MLflow (MLFLOW_TRACKING_URI): a parent run with the best score, its "
                             "best run folder nested under it")
    return parser


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jobs > 1 and not (args.workers or cluster.scheduler_address(args.scheduler)):
        parser.error("--jobs runs trials side by side on a cluster: add --workers N or --scheduler ADDRESS")
    fixed = dict(args.param)
    if args.track:
        track.require()  # a missing MLflow is said before the study, not after
    cluster.require(args.workers, args.scheduler)  # and a missing Dask
    import_optuna()
    search_space(args.model, fixed)
    make_model(args.model, **fixed)  # an impossible --param is refused before any data is read
    comp = load_competition(args.data, min_class_rows=args.folds)
    n_trials = args.trials if args.trials or args.timeout else DEFAULT_TRIALS
    start = time.perf_counter()
    with cluster.executor(bounded(args.workers, args.jobs * args.folds), args.scheduler) as executor:
        tuned = tune(args.model, comp, n_folds=args.folds, seed=args.seed, fixed=fixed, limit=args.limit,
                     n_trials=n_trials, timeout=args.timeout, runs_dir=args.runs_dir, executor=executor, jobs=args.jobs)
    print(describe_study(tuned.study, tuned.path))
    if tuned.best is None:
        print("no trial has finished yet: run the same command again to continue the study")
        return 0
    print(f"top trials:\n{top_trials(tuned.study)}")
    for line in [f"pictures: {', '.join(map(str, tuned.pictures))}" if tuned.pictures else None, *tuned.skipped]:
        if line:
            print(line)
    s, metric = tuned.run.scores, comp.overview.metric
    scored = scoring.metric_scores(tuned.run, metric)
    shown = "" if metric == metrics.DEFAULT else f"{metric} {scored['score_mean']:.4f} +- {scored['score_std']:.4f}, "
    print(f"best run ({tuned.how}): {shown}accuracy {s['accuracy_mean']:.4f} +- {s['accuracy_std']:.4f}, "
          f"{runs.format_seconds(time.perf_counter() - start)} -> {tuned.run.path}")
    data = f" --data {args.data}" if args.data != cli.DATA else ""
    print(f"submit it: python -m competition.submit --run {tuned.run.path}{data}")
    if args.track:
        log_study(tuned, comp.name, args.model)
    print("more trials: the same command again continues the study")
    return 0


if __name__ == "__main__":
    sys.exit(main())
