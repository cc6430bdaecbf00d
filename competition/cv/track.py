"""Log finished run folders to MLflow: ``--track mlflow`` on ``cv`` and ``submit``, and a tuning study's trials.

    python -m competition.cv --model rf --track mlflow
    python -m competition.submit --model rf --track mlflow      # the run, with the submission file
    python -m competition.track RUN_DIR [RUN_DIR ...] [--submission CSV]   # afterwards, or again

Where to: MLflow's own ``MLFLOW_TRACKING_URI`` (a server ``http://host:5000``, ``sqlite:///mlflow.db``,
a folder); unset, MLflow's default in the current folder (``mlflow.db``, artifacts under ``mlruns/``).

One MLflow run per run folder, in the experiment named after the competition (``data.name`` of
``config.json``), named after the folder:

    params     model, folds, seed, seeds, limit, keras_backend and the model's parameters (``config.params``;
               lists as text, nested dicts as ``name.key``, values cut at 500 characters; a parameter
               named like a setting becomes ``model.NAME``)
    metrics    accuracy_mean, accuracy_std, log_loss_mean, log_loss_std, oof_accuracy, oof_log_loss,
               fit_seconds, predict_seconds; fold_accuracy and fold_log_loss with step = fold (0, 1, ...)
    artifacts  config.json, scores.json, histories.json, report.md and its pictures (*.png), and with a
               submission submission/<name>.csv and its sidecar submission/<name>.json
    tags       competition.run_dir (the folder's absolute path), competition.run_key (a hash of it),
               competition.data_fingerprint, mlflow.source.git.commit (competition.git_commit keeps
               a -dirty mark), mlflow.parentRunId when nested under a study

Logging a folder again never makes a second MLflow run: the run tagged with the folder's key is
updated (parameters and metrics it lacks are added, artifacts uploaded again, so a submission or a
report drawn later joins the run). MLflow is imported here only, and only when tracking is asked for;
the run folder and the submission are written before anything is sent, so a tracking server that is
down costs nothing but the tracking (``TrackingError``, which says how to log the runs later).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .. import cli, extras, runs
from ..errors import InputError
from ..fsutil import NotRegularFile, check_regular
from ..runs import matching

SETTINGS = ("model", "folds", "seed", "seeds", "limit", "keras_backend")  # the run's own params besides the model's
METRICS = ("accuracy_mean", "accuracy_std", "log_loss_mean", "log_loss_std", "oof_accuracy", "oof_log_loss",
           "fit_seconds", "predict_seconds")
FOLD_METRICS = ("accuracy", "log_loss")  # logged per fold as fold_<name>, step = fold
ARTIFACTS = (runs.CONFIG, runs.SCORES, runs.HISTORIES, "report.md")
MAX_VALUE = 500  # characters of a param value kept (MLflow 2.12+ takes 6000; 500 stays readable)
BATCH = 100  # params or tags per log_batch call (MLflow's limit)
KEY_TAG, DIR_TAG = "competition.run_key", "competition.run_dir"
# MLflow's own retry settings, bounded when this project starts it: by default MLflow retries a server
# that does not answer for about four minutes (7 retries, 2 s backoff, 120 s per request). A value set
# in the environment wins.
RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
           "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
SQLITE_HEADER = b"SQLite format 3\x00"


class TrackingError(InputError):
    """Tracking failed or cannot start (MLflow missing, the server down); the run folders are saved."""


def require():
    """The ``mlflow`` module, or a one-line ``TrackingError`` saying how to install it. Called before
    any work starts, so a missing MLflow is not found out after a 20-minute cross-validation."""
    for name, value in RETRIES.items():
        os.environ.setdefault(name, value)  # before MLflow reads them; a value the user set is kept
    mlflow = extras.require("mlflow", "tracking (--track mlflow, competition track)")
    check_store(mlflow.get_tracking_uri())
    return mlflow


def check_store(uri: str) -> None:
    """Refuse at once a local SQLite store that cannot be used: a file that is not an SQLite database
    (MLflow would fail with a traceback, or write into it; it is left untouched), or one that cannot
    be written (MLflow's default, ``mlflow.db`` in the current folder, from a read-only folder): MLflow
    would retry opening it for minutes, warning each time, before a traceback."""
    if not uri.startswith("sqlite:///"):
        return
    path = Path(unquote(uri.removeprefix("sqlite:///").partition("?")[0]))
    problem = store_problem(path)
    if problem is None:
        return
    raise TrackingError(f"MLflow tracking at {uri}: {problem}; set MLFLOW_TRACKING_URI to a store you can write "
                        "(sqlite:///PATH/mlflow.db), or run from a folder you can write")


def store_problem(path: Path) -> str | None:
    """Why the SQLite file ``path`` cannot be MLflow's store, or None when it can."""
    try:
        check_regular(path)
    except NotRegularFile as exc:
        return str(exc)
    if path.is_file() and path.stat().st_size and not is_sqlite(path):
        return f"{path} is not an SQLite database; it is left untouched"
    if path.is_file() and foreign_tables(path):
        return (f"{path} is another program's SQLite database (tables {', '.join(foreign_tables(path)[:3])}, "
                "none of MLflow's); it is left untouched")
    if not path.parent.is_dir():
        return f"{path.parent} is not a folder"
    if not os.access(path.parent, os.W_OK) or path.exists() and not os.access(path, os.W_OK):
        return f"{path if path.exists() and not os.access(path, os.W_OK) else path.parent} is read-only"
    return None


def foreign_tables(path: Path) -> list[str]:
    """The tables of the SQLite file ``path`` when it holds some but not MLflow's (which it would add
    beside them), else []; a file it cannot read is left to MLflow to word."""
    try:
        with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as connection:
            tables = sorted(row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    except sqlite3.Error:
        return []
    return [] if not tables or "experiments" in tables else tables


def is_sqlite(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def run_key(path: Path) -> str:
    """A searchable key for a run folder (a hash of its absolute path: paths may hold quotes)."""
    return hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:32]


def param_text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def flatten(params: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: MLflow params are flat."""
    flat = {}
    for name, value in params.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def params_of(config: dict) -> dict[str, str]:
    """The run's settings and its model's parameters, as MLflow params (text)."""
    found = {key: param_text(matching.setting(config, key)) for key in SETTINGS}
    for name, value in flatten(config.get("params") or {}).items():
        found[f"model.{name}" if name in SETTINGS else name] = param_text(value)
    return found


def metrics_of(scores: dict) -> list[tuple[str, float, int]]:
    """``(key, value, step)`` of the run's overall scores (step 0) and of each fold (step = fold)."""
    found = [(key, float(scores[key]), 0) for key in METRICS if isinstance(scores.get(key), (int, float))]
    for fold in scores.get("folds", []):
        found += [(f"fold_{name}", float(fold[name]), int(fold["fold"])) for name in FOLD_METRICS]
    return found


def artifacts_of(run: runs.Run, submission: Path | None = None) -> list[tuple[Path, str | None]]:
    """``(file, artifact folder)`` to upload: the run's records and report, and the submission with
    its sidecar."""
    found = [(run.path / name, None) for name in ARTIFACTS if (run.path / name).is_file()]
    found += [(path, None) for path in sorted(run.path.glob("*.png"))]
    if submission is not None:
        submission = Path(submission)
        found += [(path, "submission") for path in (submission, submission.with_suffix(".json")) if path.is_file()]
    return found


def tags_of(run: runs.Run, tags: dict | None = None, parent: str | None = None) -> dict[str, str]:
    config = run.config
    found = {KEY_TAG: run_key(run.path), DIR_TAG: str(run.path.resolve()),
             "competition.model": str(config["model"]),
             "competition.data_fingerprint": config["data"]["fingerprint"]}
    commit = config.get("git_commit")
    if commit:
        found["competition.git_commit"] = commit
        found["mlflow.source.git.commit"] = commit.removesuffix("-dirty")
    if parent:
        found["mlflow.parentRunId"] = parent
    found.update({str(k): param_text(v) for k, v in (tags or {}).items()})
    return found


def check_finished(run: runs.Run) -> None:
    if not run.finished:
        raise TrackingError(f"{run.path}: unfinished run; finish it with python -m competition.cv --resume {run.path}")


def millis(path: Path) -> int:
    return int(path.stat().st_mtime * 1000)


def experiment_id(client, name: str) -> str:
    """The id of the experiment ``name``, created if need be (by whoever comes first)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return client.get_experiment_by_name(name).experiment_id


def find_logged(client, experiment: str, key: str):
    """The active MLflow run tagged with ``key``, or None."""
    found = client.search_runs([experiment], filter_string=f"tags.`{KEY_TAG}` = '{key}'", max_results=1)
    return found[0] if found else None


def batches(items: list, size: int = BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def log_run(run: runs.Run, *, submission: str | Path | None = None, tags: dict | None = None,
            parent: str | None = None, client=None) -> str:
    """Log the finished run folder ``run`` (with ``submission``, a CSV written from it, and its sidecar)
    and return the MLflow run id. A folder logged before is updated in its own MLflow run, not
    logged twice. ``tags``: extra tags (a study's name, a trial's number); ``parent``: the MLflow
    run id to nest under (``start_parent``). MLflow errors propagate (``log_runs`` words them)."""
    check_finished(run)
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = client or MlflowClient()
    experiment = experiment_id(client, run.config["data"]["name"])
    logged = find_logged(client, experiment, run_key(run.path))
    if logged is None:
        logged = client.create_run(experiment, start_time=millis(run.path / runs.CONFIG), run_name=run.name,
                                   tags={KEY_TAG: run_key(run.path)})  # found again even if the rest fails
    run_id = logged.info.run_id
    have_params, have_metrics = logged.data.params, logged.data.metrics
    params = [Param(k, v) for k, v in params_of(run.config).items() if k not in have_params]
    stamp = millis(run.path / runs.SCORES)
    metrics = [Metric(k, v, stamp, step) for k, v, step in metrics_of(run.scores) if k not in have_metrics]
    run_tags = [RunTag(k, v) for k, v in tags_of(run, tags, parent).items()]
    for chunk in batches(params):
        client.log_batch(run_id, params=chunk)
    for chunk in batches(run_tags):
        client.log_batch(run_id, tags=chunk)
    client.log_batch(run_id, metrics=metrics)
    for path, folder in artifacts_of(run, Path(submission) if submission else None):
        client.log_artifact(run_id, str(path), folder)
    client.set_terminated(run_id, "FINISHED", end_time=stamp)
    return run_id


def start_parent(experiment: str, name: str, *, key: str, params: dict | None = None, tags: dict | None = None,
                 client=None) -> str:
    """An MLflow run to nest other runs under (a tuning study: ``log_runs([trial_run], parent=id)``),
    found again by ``key`` (say, the study folder's absolute path), else created; returns its id.
    ``experiment``: the competition's name, as ``log_run`` uses. Close it with ``finish_parent``.
    A failure is a ``TrackingError``."""
    mlflow = require()
    from mlflow.entities import Param, RunTag

    client = client or mlflow.MlflowClient()
    with worded(mlflow):
        experiment = experiment_id(client, experiment)
        logged = find_logged(client, experiment, run_key(Path(key)))
        if logged is None:
            logged = client.create_run(experiment, run_name=name, tags={KEY_TAG: run_key(Path(key))})
        run_id = logged.info.run_id
        new = [Param(k, param_text(v)) for k, v in flatten(params or {}).items() if k not in logged.data.params]
        all_tags = [RunTag(k, param_text(v)) for k, v in {KEY_TAG: run_key(Path(key)), **(tags or {})}.items()]
        for chunk in batches(new):
            client.log_batch(run_id, params=chunk)
        for chunk in batches(all_tags):
            client.log_batch(run_id, tags=chunk)
    return run_id


def finish_parent(run_id: str, metrics: dict[str, float] | None = None, *, status: str = "FINISHED",
                  client=None) -> None:
    """Log a parent run's summary ``metrics`` (the best trial's accuracy, say) and close it; a
    failure is a ``TrackingError``."""
    mlflow = require()
    from mlflow.entities import Metric

    client = client or mlflow.MlflowClient()
    stamp = int(time.time() * 1000)
    with worded(mlflow):
        client.log_batch(run_id, metrics=[Metric(k, float(v), stamp, 0) for k, v in (metrics or {}).items()])
        client.set_terminated(run_id, status)


@contextmanager
def worded(mlflow, saved: str = "", later: str = ""):
    """MLflow's failures (a server down, a store that refuses) as one ``TrackingError`` line naming the
    store, what is ``saved`` and the command that logs it ``later``."""
    from mlflow.exceptions import MlflowException

    failures = [MlflowException, OSError]
    try:
        from sqlalchemy.exc import SQLAlchemyError  # a database store's own errors, not wrapped by MLflow

        failures.append(SQLAlchemyError)
    except ImportError:  # mlflow-skinny: no database stores
        pass
    try:
        yield
    except tuple(failures) as exc:
        message = f"MLflow tracking at {mlflow.get_tracking_uri()} failed ({reason(exc)})"
        if saved:
            message += f"; nothing is lost, {saved} saved: log later with {later}"
        raise TrackingError(message) from None


def reason(exc: BaseException, limit: int = 200) -> str:
    """The root of an exception chain in one short line: MLflow wraps a refused connection in three
    layers of retry messages, whose innermost says it best ("ConnectionRefusedError: [Errno 111] ...")."""
    while (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text[:limit]}"


def later_command(paths: list[Path], submission: Path | None) -> str:
    command = "python -m competition.track " + " ".join(str(p) for p in paths)
    return command + (f" --submission {submission}" if submission else "")


def log_runs(made: list[runs.Run], *, submission: str | Path | None = None, tags: dict | None = None,
             parent: str | None = None, out=None) -> list[str]:
    """Log each run (the last with ``submission``; all with ``tags`` and under ``parent``), printing a
    line for each; the MLflow run ids. A failure stops at that run and raises one ``TrackingError``
    naming what is saved and the command that logs it later."""
    mlflow = require()
    uri = mlflow.get_tracking_uri()
    submission = Path(submission) if submission else None
    ids = []
    for i, run in enumerate(made):
        attached = submission if i == len(made) - 1 else None
        left = [r.path for r in made[i:]]
        saved = ", ".join(str(p) for p in left) + (f" and {submission}" if submission else "")
        with worded(mlflow, saved, later_command(left, submission)):
            ids.append(log_run(run, submission=attached, tags=tags, parent=parent))
        extra = f" with {attached.name}" if attached else ""
        print(f"tracked {run.path}{extra} in MLflow ({uri}): experiment {run.config['data']['name']!r}, "
              f"run {ids[-1]}", file=out or sys.stdout)
    return ids


def check_sidecar(csv_path: Path, run: runs.Run) -> None:
    """A submission is logged with the run its sidecar names, not with another."""
    sidecar = csv_path.with_suffix(".json")
    try:
        named = json.loads(sidecar.read_text(encoding="utf-8"))["recipe"]["run"]
    except (OSError, ValueError, KeyError, TypeError):
        raise TrackingError(f"{sidecar}: missing or not a submission's sidecar (it names the run)") from None
    if Path(named).name != run.path.name:  # folder names carry the time; the path may be relative to elsewhere
        raise TrackingError(f"--submission {csv_path}: was written from {named}, not from {run.path}")



@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(
        prog="python -m competition.track", description="Log finished run folders (and a submission) to MLflow "
        "(MLFLOW_TRACKING_URI says where); a folder logged before updates its own MLflow run.",
        epilog="example: python -m competition.track runs/20261125-101500-rf --submission submissions/rf-20261125.csv")
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="finished run folder(s)")
    parser.add_argument("--submission", type=Path, metavar="CSV",
                        help="a submission written from the (one) run: the CSV and its sidecar .json are logged too")
    args = parser.parse_args(argv)
    require()  # a missing MLflow or unusable store is said before the folders are read
    if args.submission is not None and len(args.run_dirs) != 1:
        parser.error("--submission goes with one RUN_DIR, the run it was written from")
    if args.submission is not None and not args.submission.is_file():
        raise TrackingError(f"--submission {args.submission}: no such file")
    made = [runs.load_run(path) for path in args.run_dirs]
    for run in made:
        check_finished(run)
    if args.submission is not None:
        check_sidecar(args.submission, made[0])
    log_runs(made, submission=args.submission)
    return 0


if __name__ == "__main__":
    sys.exit(main())
