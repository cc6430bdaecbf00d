"""MLflow tracking (``--track mlflow``, ``competition.track``) and ``runs --compare``.

MLflow goes to a SQLite store in a temporary folder (``MLFLOW_TRACKING_URI``); it is imported inside
the tests only, and few subprocesses are started, since importing it takes seconds.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from competition import runs, submit
from competition.cv import obtain, track
from competition.cv.__main__ import main as cv_main
from competition.data.loader import load_competition
from competition.runs.__main__ import main as runs_main
from competition.runs.table import COMPARE_COLUMNS
from tests.helpers import in_process

# MLflow's own SQLAlchemy use, inside MLflow
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def logged_runs(client, run: runs.Run) -> list:
    """The MLflow runs tagged with ``run``'s folder."""
    experiment = client.get_experiment_by_name(run.config["data"]["name"])
    return client.search_runs([experiment.experiment_id],
                              filter_string=f"tags.`{track.KEY_TAG}` = '{track.run_key(run.path)}'")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    """A folder with an MLflow SQLite store, and the run of ``cv --track mlflow`` logged into it."""
    folder = tmp_path_factory.mktemp("tracking")
    return {"folder": folder, "uri": f"sqlite:///{folder}/mlflow.db", "runs": folder / "runs"}


@pytest.fixture(scope="module")
def tracked(store, fashion_small):
    """``competition.cv ... --track mlflow`` (its ``main``, in this process): its output and its run."""
    # in_process restores the environment after the call: MLflow's retry settings that tracking sets stay this run's
    done = in_process(cv_main, "--model", "dt", "--param", "max_depth=4", "--folds", "3", "--data", fashion_small,
                      "--runs-dir", store["runs"], "--track", "mlflow", cwd=store["folder"],
                      env={"MLFLOW_TRACKING_URI": store["uri"]})
    assert done.returncode == 0, done.stderr
    (run,) = runs.list_runs(store["runs"])
    return done, run


@pytest.fixture(scope="module")
def client(store):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=store["uri"])


def test_cv_track_logs_the_run_as_scores_json_says(tracked, client):
    done, run = tracked
    (logged,) = logged_runs(client, run)
    assert f"tracked {run.path} in MLflow" in done.stdout and logged.info.run_id in done.stdout
    assert logged.info.run_name == run.name and logged.info.status == "FINISHED"
    scores = json.loads((run.path / "scores.json").read_text())
    metrics = logged.data.metrics
    for key in ("accuracy_mean", "accuracy_std", "log_loss_mean", "oof_accuracy", "oof_log_loss", "fit_seconds"):
        assert metrics[key] == scores[key], key
    history = sorted(client.get_metric_history(logged.info.run_id, "fold_accuracy"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == [(f["fold"], f["accuracy"]) for f in scores["folds"]]
    params = logged.data.params
    assert params["max_depth"] == "4" and params["model"] == "dt" and params["folds"] == "3"
    assert params["seed"] == "87" and params["seeds"] == "1" and params["limit"] == "None"
    assert params["criterion"] == str(run.config["params"]["criterion"])
    tags = logged.data.tags
    assert tags["competition.run_dir"] == str(run.path.resolve())
    commit = run.config["git_commit"]  # None outside a git checkout
    assert tags.get("mlflow.source.git.commit") == (commit.removesuffix("-dirty") if commit else None)
    assert tags["competition.data_fingerprint"] == run.config["data"]["fingerprint"]
    artifacts = {f.path for f in client.list_artifacts(logged.info.run_id)}
    assert {"config.json", "scores.json", "histories.json"} <= artifacts


def test_logging_a_folder_again_updates_its_mlflow_run(tracked, client, store, monkeypatch):
    _, run = tracked
    (before,) = logged_runs(client, run)
    from competition.analysis.report import run_report

    run_report(run.path)  # drawn after the run was logged: logging again brings the pictures
    again = track.log_run(run, tags={"study": "again"}, client=client)
    (after,) = logged_runs(client, run)
    assert again == before.info.run_id == after.info.run_id
    assert after.data.tags["study"] == "again"
    history = client.get_metric_history(again, "fold_accuracy")
    assert len(history) == run.config["folds"]  # not logged twice
    artifacts = {f.path for f in client.list_artifacts(again)}
    assert {"report.md", "confusion_matrix.png"} <= artifacts


def test_submit_track_adds_the_submission_to_the_runs_mlflow_run(tracked, client, store, fashion_small, monkeypatch,
                                                                 capsys):
    _, run = tracked
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    out = store["folder"] / "submissions"
    assert submit.main(["--model", "dt", "--param", "max_depth=4", "--folds", "3", "--data", str(fashion_small),
                        "--runs-dir", str(store["runs"]), "--out", str(out), "--name", "tracked",
                        "--track", "mlflow"]) == 0
    printed = capsys.readouterr().out
    assert f"reusing {run.path}" in printed and f"tracked {run.path} with tracked.csv in MLflow" in printed
    (logged,) = logged_runs(client, run)
    files = {f.path for f in client.list_artifacts(logged.info.run_id, "submission")}
    assert files == {"submission/tracked.csv", "submission/tracked.json"}
    local = client.download_artifacts(logged.info.run_id, "submission/tracked.csv", str(store["folder"] / "dl"))
    assert Path(local).read_bytes() == (out / "tracked.csv").read_bytes()


def test_without_track_mlflow_is_never_imported(fashion_small, tmp_path):
    code = f"""
import sys
from competition.cv.__main__ import main as cv_main; from competition import runs, submit
from competition.runs.__main__ import main as runs_main
assert cv_main(["--model", "dt", "--folds", "3", "--data", {str(fashion_small)!r}, "--runs-dir", "runs"]) == 0
(run,) = runs.list_runs("runs")
assert submit.main(["--run", str(run.path), "--data", {str(fashion_small)!r}, "--out", "subs"]) == 0
assert runs_main(["--compare", "--runs-dir", "runs"]) == 0
print("mlflow imported:", "mlflow" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "mlflow imported: False" in done.stdout
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_a_tracking_server_that_is_down_loses_nothing(store, client, tracked, fashion_small, tmp_path, monkeypatch,
                                                      capsys):
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", down)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    status = submit.main(["--model", "dt", "--param", "max_depth=3", "--folds", "3", "--data", str(fashion_small),
                          "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "subs"), "--name", "kept",
                          "--track", "mlflow"])
    printed = capsys.readouterr()
    assert status == 1
    errors = [line for line in printed.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in printed.err, printed.err
    (run,) = runs.list_runs(tmp_path / "runs")
    csv = tmp_path / "subs" / "kept.csv"
    assert down in errors[0] and f"python -m competition.track {run.path} --submission {csv}" in errors[0]
    assert "wrote" in printed.out and csv.is_file() and csv.with_suffix(".json").is_file()
    assert run.finished and runs.verify(run)
    # the command the error names logs both, once the store answers; with no other run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    assert track.main([str(tracked[1].path), "--submission", str(csv)]) == 1
    assert f"was written from {run.path}, not from {tracked[1].path}" in capsys.readouterr().err
    assert track.main([str(run.path), "--submission", str(csv)]) == 0
    (logged,) = logged_runs(client, run)
    assert logged.data.metrics["accuracy_mean"] == run.scores["accuracy_mean"]
    assert {f.path for f in client.list_artifacts(logged.info.run_id, "submission")} == {
        "submission/kept.csv", "submission/kept.json"}


def test_a_tracking_uri_naming_a_file_that_is_no_database_is_one_line_before_any_work(fashion_small, tmp_path,
                                                                                      monkeypatch, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not a database\n")
    for named in (notes, tmp_path):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{named}")
        status = cv_main(["--model", "dt", "--folds", "3", "--data", str(fashion_small), "--runs-dir",
                          str(tmp_path / "runs"), "--track", "mlflow"])
        err = capsys.readouterr().err
        problem = (f"{named}: not a regular file (a folder)" if named.is_dir()
                   else f"{named} is not an SQLite database; it is left untouched")
        assert status == 1 and err.startswith(f"error: MLflow tracking at sqlite:///{named}: {problem}; set "
                                              "MLFLOW_TRACKING_URI to a store you can write") and err.count("\n") == 1
    assert notes.read_text() == "my notes, not a database\n" and not (tmp_path / "runs").exists()
    (tmp_path / "new.db").touch()  # empty: what SQLite makes a new database of
    track.check_store(f"sqlite:///{tmp_path / 'new.db'}")
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as connection, connection:
        connection.execute("CREATE TABLE notes (text)")
    before = other.read_bytes()
    with pytest.raises(track.TrackingError, match=r"other.db is another program's SQLite database \(tables notes, "
                                                  r"none of MLflow's\); it is left untouched"):
        track.check_store(f"sqlite:///{other}")
    assert other.read_bytes() == before


def test_a_torn_database_is_one_line_naming_what_is_saved(tracked, tmp_path, monkeypatch, capsys):
    torn = tmp_path / "torn.db"
    torn.write_bytes(track.SQLITE_HEADER + bytes(range(256)) * 8)  # a database's first bytes, then nothing usable
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{torn}")
    assert track.main([str(tracked[1].path)]) == 1
    err = capsys.readouterr().err
    assert (err.startswith(f"error: MLflow tracking at sqlite:///{torn} failed (DatabaseError: ")
            and err.count("\n") == 1)
    assert f"nothing is lost, {tracked[1].path} saved" in err


def test_mlflow_retries_are_bounded_unless_the_user_sets_them(monkeypatch):
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    for name in track.RETRIES:
        monkeypatch.setenv(name, "1")  # undone after the test, whatever require() sets
        monkeypatch.delenv(name)
    track.require()
    assert (MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(), MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get(),
            MLFLOW_HTTP_REQUEST_TIMEOUT.get()) == (2, 1, 30), "not MLflow's four minutes"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
    track.require()
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 7, "the user's own setting wins"


def test_missing_mlflow_is_one_line_before_any_work(fashion_small, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what a machine without the extra sees: ImportError
    status = cv_main(["--model", "dt", "--folds", "3", "--data", str(fashion_small), "--runs-dir",
                      str(tmp_path / "runs"), "--track", "mlflow"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and err.startswith("error:")
    assert "needs MLflow: pip install 'competition[tracking]'" in err
    assert not (tmp_path / "runs").exists()  # refused before the cross-validation


def test_params_and_metrics_of_odd_configs():
    config = {"model": "ensemble-weights", "folds": 5, "seed": 87, "limit": None,
              "params": {"weights": [0.5, 0.25, 0.25], "seed": 3, "inner": {"a": 1}, "long": "x" * 1000}}
    params = track.params_of(config)
    assert params["weights"] == "[0.5, 0.25, 0.25]" and params["inner.a"] == "1"
    assert params["seed"] == "87" and params["model.seed"] == "3"  # the run's seed keeps its name
    assert params["seeds"] == "1" and params["keras_backend"] == "None"
    assert len(params["long"]) == track.MAX_VALUE and params["long"].endswith("...")
    scores = {"accuracy_mean": 0.5, "oof_accuracy": 0.6, "folds": [{"fold": 0, "accuracy": 0.4, "log_loss": 1.0},
                                                                   {"fold": 1, "accuracy": 0.6, "log_loss": 0.9}]}
    assert track.metrics_of(scores) == [("accuracy_mean", 0.5, 0), ("oof_accuracy", 0.6, 0),
                                        ("fold_accuracy", 0.4, 0), ("fold_log_loss", 1.0, 0),
                                        ("fold_accuracy", 0.6, 1), ("fold_log_loss", 0.9, 1)]


@pytest.fixture(scope="module")
def compared(fashion_small, tmp_path_factory):
    """Two trees of different depths and a forest, on the same folds."""
    comp = load_competition(fashion_small)
    runs_dir = tmp_path_factory.mktemp("compare")
    made = [obtain.run_cv("dt", comp, n_folds=3, params={"max_depth": 3}, runs_dir=runs_dir, progress=False),
            obtain.run_cv("dt", comp, n_folds=3, params={"max_depth": 6}, runs_dir=runs_dir, progress=False),
            obtain.run_cv("rf", comp, n_folds=3, params={"n_estimators": 20}, runs_dir=runs_dir, progress=False)]
    return runs_dir, made


def test_compare_shows_only_the_parameters_that_differ(compared, capsys):
    runs_dir, (shallow, deep, forest) = compared
    table = runs.compare_table(runs.list_runs(runs_dir))
    params = [c for c in table.columns if c not in COMPARE_COLUMNS]
    assert "max_depth" in params
    assert "criterion" not in params and "n_estimators" not in params  # equal, or the forest's own
    assert list(table["accuracy_mean"]) == sorted(table["accuracy_mean"], reverse=True)
    rows = table.set_index("run")
    for run, depth in ((shallow, 3), (deep, 6), (forest, None)):
        row = rows.loc[run.name]
        assert row["model"] == run.config["model"] and row["max_depth"] == depth
        assert row["accuracy_mean"] == run.scores["accuracy_mean"] and row["oof_log_loss"] == run.scores["oof_log_loss"]
        assert row["folds"] == 3 and row["seeds"] == 1 and row["limit"] is None
    assert runs_main(["--compare", "--runs-dir", str(runs_dir), "--model", "dt"]) == 0
    printed = capsys.readouterr().out
    assert shallow.name in printed and deep.name in printed and forest.name not in printed
    assert "max_depth" in printed and "criterion" not in printed
    s = deep.scores
    assert f"{s['accuracy_mean']:.4f} +- {s['accuracy_std']:.4f}" in printed


def test_compare_keeps_other_data_apart(compared, tiny, tmp_path):
    _, made = compared
    other = obtain.run_cv("dt", load_competition(tiny, min_class_rows=3), n_folds=3, runs_dir=tmp_path, progress=False)
    unfinished = tmp_path / "unfinished-dt"
    shutil.copytree(made[0].path, unfinished)
    (unfinished / "scores.json").unlink()
    text = runs.compare([*made, other, runs.load_run(unfinished)])
    assert "made on 2 different data sets" in text and "1 unfinished run(s) left out" in text
    _, first, second = text.split("\ndata ")  # a heading line, then one table per data set
    data = made[0].config["data"]
    assert first.startswith(f"{data['name']} (fingerprint {data['fingerprint'][:12]}")
    assert second.startswith(f"tiny (fingerprint {other.config['data']['fingerprint'][:12]}")
    assert all(run.path.name in first for run in made) and made[2].name not in second  # the forest: here only
    assert len(first.strip().splitlines()) == 2 + 3 and len(second.strip().splitlines()) == 2 + 1 + 2


def test_a_study_nests_its_trials_under_one_parent(tracked, client, store, monkeypatch, capsys):
    """What tuning calls: a parent run found again by its key, trial runs nested under it."""
    _, run = tracked
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    key = str(store["folder"] / "study")
    parent = track.start_parent(run.config["data"]["name"], "study-dt", key=key, params={"trials": 2})
    assert track.start_parent(run.config["data"]["name"], "study-dt", key=key) == parent
    (child,) = track.log_runs([run], parent=parent, tags={"optuna.trial": 0})
    assert f"tracked {run.path} in MLflow" in capsys.readouterr().out
    track.finish_parent(parent, {"best_accuracy": run.scores["accuracy_mean"]})
    (logged,) = logged_runs(client, run)
    assert logged.info.run_id == child and logged.data.tags["mlflow.parentRunId"] == parent
    assert logged.data.tags["optuna.trial"] == "0"
    top = client.get_run(parent)
    assert top.info.status == "FINISHED" and top.data.params["trials"] == "2"
    assert top.data.metrics["best_accuracy"] == run.scores["accuracy_mean"]


def test_tune_track_logs_the_study_with_its_best_run_nested(fashion_small, client, store, tmp_path, monkeypatch,
                                                            capsys):
    from competition import tune

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    code = tune.main(["--model", "dt", "--data", str(fashion_small), "--folds", "3", "--trials", "2",
                      "--runs-dir", str(tmp_path / "runs"), "--track", "mlflow"])
    assert code == 0, capsys.readouterr().err
    best = next(r for r in runs.list_runs(tmp_path / "runs") if "origin" in r.config)
    (logged,) = logged_runs(client, best)
    parent = client.get_run(logged.data.tags["mlflow.parentRunId"])
    assert parent.data.metrics["best_accuracy"] == best.scores["accuracy_mean"] == logged.data.metrics["accuracy_mean"]
    assert (parent.data.metrics["trials"] == 2
            and logged.data.tags["optuna.trial"] == str(best.config["origin"]["trial"]))


@pytest.mark.parametrize("where", ["read-only folder", "store is a folder", "folder is a file"])
def test_a_store_that_cannot_be_written_is_one_line_at_once(tracked, tmp_path, where):
    """From a read-only folder MLflow's default store (mlflow.db there) cannot be made: one line, no
    minutes of retries. The read-only folder is a read-only bind mount (root only, as a read-only
    disk is; chmod does not stop root)."""
    folder = tmp_path / "here"
    folder.mkdir()
    env = {"MLFLOW_TRACKING_URI": None}  # MLflow's default store; in_process restores the environment after the call
    if where == "read-only folder":
        if subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode or \
                subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True).returncode:
            subprocess.run(["umount", str(folder)], capture_output=True)
            pytest.skip("no read-only mount here (needs root)")
        expected = f"{folder} is read-only"
    elif where == "store is a folder":
        (folder / "mlflow.db").mkdir()
        expected = f"{folder / 'mlflow.db'}: not a regular file (a folder)"
    else:
        (tmp_path / "file").write_text("")
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'file'}/mlflow.db"
        expected = f"{tmp_path / 'file'} is not a folder"
    try:
        start = time.monotonic()
        done = in_process(track.main, tracked[1].path, cwd=folder, env=env)
        took = time.monotonic() - start
    finally:
        if where == "read-only folder":
            subprocess.run(["umount", str(folder)], capture_output=True)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
    assert took < 60, "at once, not after minutes of MLflow's retries"
