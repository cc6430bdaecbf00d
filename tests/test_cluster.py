"""Folds on a Dask cluster (loopback only): the same run files as in-process, workers that die,
a client killed mid-run, and a scheduler that does not answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from competition import cluster, cv, runs
from competition.data import load_competition
from tests.test_server import free_port


@pytest.fixture(scope="module")
def fashion(fashion_small):
    return load_competition(fashion_small)


@pytest.fixture(scope="module")
def local_cluster():
    """A local cluster of two single-thread worker processes, shared by this module's tests."""
    with cluster.executor(workers=2) as executor:
        yield executor


@pytest.mark.parametrize("model,params,seeds", [("dt", {"max_depth": 6}, 1), ("rf", {"n_estimators": 15}, 1),
                                               ("rf", {"n_estimators": 5}, 3)])
def test_a_run_through_the_cluster_equals_the_in_process_run(fashion, local_cluster, tmp_path, model, params, seeds):
    """Also with seeds: every (fold, seed) job goes to the cluster at once, and the client averages
    each fold's seeds in seed order, whatever order they come back in."""
    here = cv.run_cv(model, fashion, n_folds=3, params=params, seeds=seeds, runs_dir=tmp_path / "here", progress=False)
    there = cv.run_cv(model, fashion, n_folds=3, params=params, seeds=seeds, runs_dir=tmp_path / "there",
                      progress=False, executor=local_cluster)
    assert np.array_equal(there.folds(), here.folds())
    assert np.array_equal(there.oof(), here.oof(), equal_nan=True) and np.array_equal(there.test(), here.test())
    assert there.config["params"] == here.config["params"], "n_jobs follows the worker only inside the fold"
    assert sorted(p.name for p in (there.path / "folds").iterdir()) == sorted(p.name for p in (here.path / "folds").iterdir())


def test_tensorflow_on_a_worker_gets_the_workers_threads_not_every_core(local_cluster):
    """Two one-thread workers must not each start TensorFlow with a pool of every core's threads."""
    assert local_cluster.submit(os.getenv, "TF_NUM_INTRAOP_THREADS").result() == "1"
    assert local_cluster.submit(os.getenv, "TF_NUM_INTEROP_THREADS").result() == "1"


def test_a_worker_killed_mid_fold_costs_a_retry_not_the_run(fashion, local_cluster, tmp_path):
    params = {"n_estimators": 300}
    client = local_cluster.client
    done = {}
    runner = threading.Thread(target=lambda: done.update(run=cv.run_cv(
        "rf", fashion, n_folds=4, params=params, runs_dir=tmp_path / "there", progress=False, executor=local_cluster)))
    runner.start()
    deadline = time.monotonic() + 60
    while not any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    busy = next(address for address, tasks in client.processing().items() if tasks)
    pid = client.run(os.getpid, workers=[busy])[busy]
    os.kill(pid, signal.SIGKILL)
    runner.join(timeout=300)
    assert done["run"].finished
    here = cv.run_cv("rf", fashion, n_folds=4, params=params, runs_dir=tmp_path / "here", progress=False)
    assert np.array_equal(done["run"].oof(), here.oof(), equal_nan=True)


def test_a_client_killed_mid_run_resumes_to_the_same_result(fashion_small, fashion, tmp_path):
    command = [sys.executable, "-m", "competition.cv", "--model", "rf", "--param", "n_estimators=300", "--folds", "4",
               "--data", str(fashion_small), "--runs-dir", str(tmp_path / "runs"), "--workers", "2"]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("runs/*/folds/fold-*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    (run,) = runs.list_runs(tmp_path / "runs")
    assert not run.finished and 1 <= len(run.done_folds) < 4
    assert not list(tmp_path.glob("runs/*/folds/.*.tmp")), "no half-written fold file"
    resumed = subprocess.run([sys.executable, "-m", "competition.cv", "--resume", str(run.path)], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    whole = cv.run_cv("rf", fashion, n_folds=4, params={"n_estimators": 300}, runs_dir=tmp_path / "whole",
                      progress=False)
    assert np.array_equal(runs.load_run(run.path).oof(), whole.oof(), equal_nan=True)


def test_a_scheduler_that_does_not_answer_is_a_clear_error_within_a_minute(fashion_small, tmp_path):
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "competition.cv", "--model", "dt", "--data", str(fashion_small),
                           "--folds", "3", "--scheduler", f"tcp://127.0.0.1:{free_port()}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert time.monotonic() - start < 60
    assert done.returncode == 1 and "does not answer within 10 s" in done.stderr and "Traceback" not in done.stderr


def test_several_models_in_one_command_share_the_cluster(fashion_small, fashion, tmp_path):
    command = [sys.executable, "-m", "competition.cv", "--model", "dt", "rf", "--param", "random_state=3",
               "--folds", "3", "--data", str(fashion_small), "--runs-dir", str(tmp_path / "runs"), "--workers", "2"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    made = {run.config["model"]: run for run in runs.list_runs(tmp_path / "runs")}
    assert sorted(made) == ["dt", "rf"] and all(run.finished for run in made.values())
    for model, run in made.items():
        here = cv.run_cv(model, fashion, n_folds=3, params={"random_state": 3}, runs_dir=tmp_path / "here",
                         progress=False)
        assert np.array_equal(run.oof(), here.oof(), equal_nan=True) and np.array_equal(run.test(), here.test())
    wrong = subprocess.run([*command[:6], "--param", "max_iter=5", *command[8:]], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: --model dt: unknown parameter 'max_iter'")
