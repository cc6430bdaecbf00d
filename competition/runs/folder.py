"""Run folders: what a cross-validation run leaves on disk, and how to read it back.

    runs/<YYYYmmdd-HHMMSS>-<model>/
      config.json       model, params, folds, seed, seeds, limit, data fingerprint, git commit, versions, host
      folds.npy         fold of every train.csv row (-1: left out by --limit)
      labels.npy        every train.csv row's label as a column index of the probabilities
      folds/fold-K.npz  held-out rows, their probabilities, test probabilities   (written per fold)
      folds/fold-K.json that fold's scores and training history                   (marks it done)
      oof.npy           (train rows, classes) out-of-fold probabilities (NaN rows: left out)
      test.npy          (test rows in sample order, classes), averaged over the fold models
                        (with --refit: the model trained again on every row, refit/test.npy)
      refit/            --refit: that model's test probabilities and scores.json (written before test.npy)
      scores.json       per fold and overall; written last: a run with it is finished
      histories.json    per-fold training curves (Keras epochs, boosting rounds)

    python -m competition.runs [--runs-dir runs] [--model NAME ...]   lists runs with their CV scores
    python -m competition.runs --compare [--model NAME ...]         a table of finished runs: model, the
                                                                    parameters that differ, CV, time, the
                                                                    OOF score's interval and its tier

A run folder that cannot be read (a corrupt ``config.json``, a truncated array) raises ``RunError``
naming the file; listing runs skips such a folder with a warning, so one broken run never blocks
the others. A corrupt fold file counts as not done: ``--resume`` computes that fold again.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .. import cli
from . import matching, scoring
from ..data import metrics, uncertainty
from ..errors import InputError, InputWarning
from ..fsutil import atomic_open, ensure_dir, save_npy_atomic, write_json_atomic

if TYPE_CHECKING:
    import pandas as pd

CONFIG, FOLDS, LABELS, OOF, TEST, SCORES, HISTORIES = (
    "config.json", "folds.npy", "labels.npy", "oof.npy", "test.npy", "scores.json", "histories.json")
REFIT_ARRAYS, REFIT_SCORES = "refit/test.npy", "refit/scores.json"
_UNREADABLE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)  # what a damaged .npy/.npz raises


class RunError(InputError):
    """A run folder that cannot be used; the message names the file."""


@dataclass
class FoldResult:
    fold: int
    rows: np.ndarray  # held-out train rows
    proba: np.ndarray  # (len(rows), n_classes)
    test_proba: np.ndarray  # (n_test, n_classes)
    scores: dict  # accuracy, log_loss, rows, fit_seconds, predict_seconds, best_iteration
    history: dict | None = None


@dataclass
class RefitResult:
    test_proba: np.ndarray  # (n_test, n_classes) of the model trained on every row
    scores: dict  # params it was given, rows, iterations, fit_seconds, predict_seconds


@dataclass
class Run:
    path: Path
    config: dict
    scores: dict | None  # None while unfinished
    done_folds: list[int]

    @property
    def finished(self) -> bool:
        return self.scores is not None

    @property
    def name(self) -> str:
        return self.path.name

    def oof(self) -> np.ndarray:
        """(train rows, classes) out-of-fold probabilities, NaN rows outside the folds."""
        oof = self._array(OOF, (self.config["data"]["train_rows"], len(self.classes)))
        check_probabilities(oof[~np.isnan(oof).all(axis=1)], self.path / OOF)
        return oof

    def test(self) -> np.ndarray:
        """(test rows, classes) probabilities, in sample order."""
        return check_probabilities(self._array(TEST, (self.config["data"]["test_rows"], len(self.classes))),
                                   self.path / TEST)

    def folds(self) -> np.ndarray:
        """Each train row's fold (-1: left out), as many folds as the config says."""
        folds = self._array(FOLDS, (self.config["data"]["train_rows"],))
        if folds.max(initial=-1) + 1 != self.config["folds"] or folds.min(initial=0) < -1:
            raise RunError(f"{self.path / FOLDS}: holds folds {folds.min()}..{folds.max()}, the run's config says "
                           f"{self.config['folds']} folds")
        return folds

    def labels(self) -> np.ndarray:
        """Encoded true labels of the train rows (column indices into ``oof()``)."""
        return self._array(LABELS, (self.config["data"]["train_rows"],))

    def _array(self, name: str, shape: tuple) -> np.ndarray:
        """A saved array, checked against the shape its config promises."""
        path = self.path / name
        try:
            array = np.load(path, allow_pickle=False)
        except _UNREADABLE as exc:
            raise RunError(f"{path}: damaged or unreadable ({type(exc).__name__}: {exc})") from None
        if array.shape != tuple(shape):
            raise RunError(f"{path}: holds an array of shape {array.shape}, the run's config says {tuple(shape)}")
        return array

    @property
    def classes(self) -> list:
        return self.config["data"]["classes"]


def check_probabilities(proba: np.ndarray, source) -> np.ndarray:
    """``proba`` if every row is a probability distribution (finite, in [0, 1], summing to 1)."""
    if proba.size and not (np.isfinite(proba).all() and (proba >= 0).all() and (proba <= 1).all()
                           and np.allclose(proba.sum(axis=1), 1, atol=1e-6)):
        raise RunError(f"{source}: holds values that are not probabilities (each row must be in [0, 1] and sum to 1)")
    return proba


def fold_problem(result: FoldResult, held_out: np.ndarray, n_test: int, n_classes: int) -> str | None:
    """Why a saved fold does not fit its run (other rows, shapes, or values that are no
    probabilities), or None."""
    if not np.array_equal(result.rows, held_out):
        return "its rows are not the fold's held-out rows"
    if result.proba.shape != (len(held_out), n_classes) or result.test_proba.shape != (n_test, n_classes):
        return "its arrays have the wrong shapes"
    try:
        check_probabilities(result.proba, "fold")
        check_probabilities(result.test_proba, "fold")
    except RunError:
        return "its probabilities are not probabilities"
    return None


def verify(run: Run) -> Run:
    """``run`` if its saved scores are those of its arrays (the OOF accuracy recomputed), else a
    ``RunError``: a scores.json edited by hand must not become a submission's CV score."""
    accuracy = scoring.oof_accuracy(run.oof(), run.labels(), run.folds() >= 0)
    if abs(accuracy - run.scores["oof_accuracy"]) > 1e-9:
        raise RunError(f"{run.path / SCORES}: says OOF accuracy {run.scores['oof_accuracy']:.4f}, its arrays give "
                       f"{accuracy:.4f}; the run was changed after it finished")
    return run


def find_matching(runs_dir: str | Path, config: dict, finished: bool = True) -> Run | None:
    """The newest finished (or, with ``finished=False``, interrupted) run under ``runs_dir`` that
    ``config`` would reproduce (``matching``)."""
    found = matching.matching(list_runs(runs_dir), config, finished)
    return found[-1] if found else None


def create(runs_dir: str | Path, name: str, config: dict, folds: np.ndarray, labels: np.ndarray) -> Path:
    """A new run folder holding its config, folds and encoded labels: the one run-folder writer's
    start, for cross-validation and ensembles alike (``save_fold`` and ``finish`` complete it)."""
    run_dir = new_run_dir(runs_dir, name)
    save_npy_atomic(run_dir / FOLDS, folds)
    save_npy_atomic(run_dir / LABELS, labels)
    write_json_atomic(run_dir / CONFIG, config)
    return run_dir


def new_run_dir(runs_dir: str | Path, model: str) -> Path:
    """A new, empty ``runs_dir/<time>-<model>`` (a suffix keeps two runs of one second apart)."""
    runs_dir = ensure_dir(runs_dir, "runs folder")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in [""] + [f"-{i}" for i in range(2, 1000)]:
        path = runs_dir / f"{stamp}-{model}{suffix}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder in {runs_dir}")


def fold_paths(run_dir: Path, fold: int) -> tuple[Path, Path]:
    return run_dir / "folds" / f"fold-{fold}.npz", run_dir / "folds" / f"fold-{fold}.json"


def save_fold(run_dir: Path, result: FoldResult) -> None:
    """Write one fold's arrays, then its scores (whose presence marks the fold done)."""
    arrays, scores = fold_paths(run_dir, result.fold)
    arrays.parent.mkdir(exist_ok=True)
    with atomic_open(arrays) as f:
        np.savez(f, rows=result.rows, proba=result.proba, test_proba=result.test_proba)
    write_json_atomic(scores, {"scores": result.scores, "history": result.history})


def load_fold(run_dir: Path, fold: int) -> FoldResult | None:
    """A saved fold, or None when it is not done, or damaged (with a warning: it will be redone)."""
    arrays, scores = fold_paths(run_dir, fold)
    if not scores.is_file():
        return None
    try:
        saved = json.loads(scores.read_text())
        with np.load(arrays, allow_pickle=False) as data:
            result = FoldResult(fold, data["rows"], data["proba"], data["test_proba"], saved["scores"],
                                saved["history"])
        float(result.scores["accuracy"]), float(result.scores["log_loss"])
    except (*_UNREADABLE, TypeError) as exc:
        warnings.warn(f"{run_dir}: fold {fold} is damaged ({type(exc).__name__}); it will be computed again",
                      InputWarning, stacklevel=2)
        return None
    return result


def save_refit(run_dir: Path, result: RefitResult) -> None:
    """Write the refit's test probabilities, then its scores (whose presence marks it done)."""
    save_npy_atomic(run_dir / REFIT_ARRAYS, result.test_proba)
    write_json_atomic(run_dir / REFIT_SCORES, result.scores)


def load_refit(run_dir: Path) -> RefitResult | None:
    """A saved refit, or None when it is not done or damaged (then it is computed again)."""
    if not (run_dir / REFIT_SCORES).is_file():
        return None
    try:
        scores = json.loads((run_dir / REFIT_SCORES).read_text())
        test_proba = np.load(run_dir / REFIT_ARRAYS, allow_pickle=False)
        check_probabilities(test_proba, run_dir / REFIT_ARRAYS)
    except (*_UNREADABLE, RunError) as exc:
        warnings.warn(f"{run_dir}: the refit is damaged ({type(exc).__name__}); it will be computed again",
                      InputWarning, stacklevel=2)
        return None
    return RefitResult(test_proba, scores)


def copy_folds(source: Path, run_dir: Path, n_folds: int) -> int:
    """Copy ``source``'s readable folds into ``run_dir`` (a new run of the same folds); return how many."""
    copied = 0
    for fold in range(n_folds):
        saved = load_fold(source, fold)
        if saved is not None:
            save_fold(run_dir, saved)
            copied += 1
    return copied


def done_folds(run_dir: Path, n_folds: int) -> list[int]:
    return [k for k in range(n_folds) if fold_paths(run_dir, k)[1].is_file()]


def finish(run_dir: Path, results: list[FoldResult], summary: tuple[np.ndarray, np.ndarray, dict]) -> dict:
    """Write the ``summary`` of ``results`` (``scoring.summarise``: OOF and test probabilities,
    scores) as ``oof.npy``, ``test.npy``, ``histories.json`` and finally ``scores.json``."""
    oof, test, scores = summary
    save_npy_atomic(run_dir / OOF, oof)
    save_npy_atomic(run_dir / TEST, test)
    write_json_atomic(run_dir / HISTORIES, {str(r.fold): r.history for r in results})
    write_json_atomic(run_dir / SCORES, scores)
    return scores


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: not a JSON object")
    return data


def _number(low: float = -math.inf, high: float = math.inf, integer: bool = False) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return (isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) and low <= value <= high)
    return check


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _is(kind: type) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, kind)


_TEXT = (lambda value: isinstance(value, str) and bool(value), "a non-empty text")
_FRACTION = (_number(0, 1), "a number from 0 to 1")
_AT_LEAST_0 = (_number(0), "a number of at least 0")
_PARAMS = (_optional(_is(dict)), "an object of parameters")
# What every reader takes from a run (key -> (check, what it must be)): ``load_run`` refuses a run
# that breaks one, so that no listing, comparison or submission trips over it. ``None`` in the
# optional tables: the key may be left out (``matching.DEFAULTS``) or be null.
CONFIG_RULES = {"model": _TEXT,
                "folds": (_number(2, integer=True), "an integer of at least 2"),
                "seed": (_number(0, integer=True), "an integer of at least 0"),
                "data": (_is(dict), "an object")}
CONFIG_OPTIONAL = {"params": _PARAMS, "overrides": _PARAMS,
                   "seeds": (_number(1, integer=True), "an integer of at least 1"),
                   "refit": (_is(bool), "true or false"),
                   "limit": (_optional(_number(1, integer=True)), "an integer of at least 1, or null")}
DATA_RULES = {"fingerprint": _TEXT,
              "train_rows": (_number(1, integer=True), "an integer of at least 1"),
              "test_rows": (_number(1, integer=True), "an integer of at least 1"),
              "classes": (lambda v: isinstance(v, list) and len(v) >= 2, "a list of at least 2 classes")}
SCORE_RULES = {"accuracy_mean": _FRACTION, "accuracy_std": _FRACTION, "oof_accuracy": _FRACTION,
               "log_loss_mean": _AT_LEAST_0, "oof_log_loss": _AT_LEAST_0,
               "oof_rows": (_number(0, integer=True), "an integer of at least 0"),
               "fit_seconds": _AT_LEAST_0, "predict_seconds": _AT_LEAST_0,
               "folds": (lambda v: isinstance(v, list) and all(isinstance(f, dict) for f in v), "a list of objects")}
FOLD_RULES = {"fold": (_number(0, integer=True), "an integer of at least 0"), "accuracy": _FRACTION,
              "log_loss": _AT_LEAST_0}


def broken_rule(record: dict, rules: dict, optional: dict | None = None, prefix: str = "") -> str | None:
    """The first value of ``record`` that breaks ``rules`` (missing, wrong type, out of range), in
    words, or None."""
    for key, (check, what) in rules.items():
        if key not in record:
            return f"{prefix}{key} is missing"
        if not check(record[key]):
            return f"{prefix}{key} must be {what}, got {json.dumps(record[key], default=str)[:60]}"
    for key, (check, what) in (optional or {}).items():
        if key in record and not check(record[key]):
            return f"{prefix}{key} must be {what}, got {json.dumps(record[key], default=str)[:60]}"
    return None


def config_problem(config: dict) -> str | None:
    """Why ``config`` is not a run's config, or None."""
    return broken_rule(config, CONFIG_RULES, CONFIG_OPTIONAL) or broken_rule(config["data"], DATA_RULES, prefix="data.")


def scores_problem(scores: dict) -> str | None:
    """Why ``scores`` is not a finished run's scores, or None: the summary numbers, the times, and
    each fold's (``tune`` reports a reused run's fold accuracies to its pruner)."""
    problem = broken_rule(scores, SCORE_RULES)  # first: it checks that folds is a list of objects
    if problem:
        return problem
    return next(filter(None, (broken_rule(fold, FOLD_RULES, prefix=f"folds[{i}].")
                              for i, fold in enumerate(scores["folds"]))), None)


def load_run(path: str | Path) -> Run:
    """The run folder ``path``; ``RunError`` if it is none, or damaged: a value any reader takes of
    the wrong type or out of range."""
    path = Path(path)
    config_path = path / CONFIG
    if not config_path.is_file():
        raise RunError(f"{path}: not a run folder (no {CONFIG})")
    config = _read_json(config_path)
    problem = config_problem(config)
    if problem:
        raise RunError(f"{config_path}: not a run's config ({problem})")
    scores = _read_json(path / SCORES) if (path / SCORES).is_file() else None
    problem = scores and scores_problem(scores)
    if problem:
        raise RunError(f"{path / SCORES}: not a run's scores ({problem})")
    return Run(path, config, scores, done_folds(path, config["folds"]))


def list_runs(runs_dir: str | Path = "runs") -> list[Run]:
    """Every readable run under ``runs_dir``, oldest first; damaged ones are skipped with a warning."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    found = []
    for folder in sorted(runs_dir.iterdir()):
        if (folder / CONFIG).is_file():
            try:
                found.append(load_run(folder))
            except RunError as exc:
                warnings.warn(f"skipped a damaged run: {exc}", InputWarning, stacklevel=2)
    return found


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

    shown = table.drop(columns=["accuracy_mean", "accuracy_std", "oof_log_loss", "seconds", "score_mean",
                                "score_std", "oof_score", "oof_low", "oof_high", "tier"], errors="ignore").astype(object)
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


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(prog="python -m competition.runs", description="List cross-validation runs, or compare "
                                "the finished ones side by side (--compare).",
                                epilog="example: python -m competition.runs --compare --model dt rf")
    cli.add_runs_dir(parser)
    parser.add_argument("--compare", action="store_true",
                        help="a table of the finished runs: model, the parameters that differ among them, seeds, "
                             "folds, limit, CV accuracy, OOF log loss, time, the OOF score with its 95%% interval "
                             "and its tier (tier 1: the best run and every run on its folds that a paired test "
                             "cannot tell apart from it; '-': other folds); best first, one table per data set")
    parser.add_argument("--model", nargs="+", metavar="NAME", help="only the runs of these models")
    args = parser.parse_args(argv)
    if args.runs_dir.exists() and not args.runs_dir.is_dir():
        raise RunError(f"--runs-dir {args.runs_dir}: is a file, not a folder of runs")
    found = [run for run in list_runs(args.runs_dir) if not args.model or run.config["model"] in args.model]
    if not found:
        which = f" of {', '.join(args.model)}" if args.model else ""
        print(f"no runs{which} in {args.runs_dir}; start one with python -m competition.cv --model NAME")
    elif args.compare:
        print(compare(found) if any(run.finished for run in found) else f"no finished runs in {args.runs_dir}")
    else:
        for run in found:
            print(describe(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
