"""Folds on a Dask cluster (loopback only): the same run files as in-process, workers that die,
a client killed mid-run, and a scheduler that does not answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from competition import runs
from competition.cv import cluster, obtain
from competition.data.loader import load_competition
from tests.helpers import free_port


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
    here = obtain.run_cv(model, fashion, n_folds=3, params=params, seeds=seeds, runs_dir=tmp_path / "here",
                         progress=False)
    there = obtain.run_cv(model, fashion, n_folds=3, params=params, seeds=seeds, runs_dir=tmp_path / "there",
                      progress=False, executor=local_cluster)
    assert np.array_equal(there.folds(), here.folds())
    assert np.array_equal(there.oof(), here.oof(), equal_nan=True) and np.array_equal(there.test(), here.test())
    assert there.config["params"] == here.config["params"], "n_jobs follows the worker only inside the fold"
    assert (sorted(p.name for p in (there.path / "folds").iterdir())
            == sorted(p.name for p in (here.path / "folds").iterdir()))


def test_tensorflow_on_a_worker_gets_the_workers_threads_not_every_core(local_cluster):
    """Two one-thread workers must not each start TensorFlow with a pool of every core's threads."""
    assert local_cluster.submit(os.getenv, "TF_NUM_INTRAOP_THREADS").result() == "1"
    assert local_cluster.submit(os.getenv, "TF_NUM_INTEROP_THREADS").result() == "1"


def gated_executor(client, gate, started):
    """A ``DaskExecutor`` on ``client`` whose jobs note where they start (``started/<fold>-<worker pid>``)
    and then wait until the file ``gate`` exists: the test decides when folds may end."""

    def gated(fn, *args):  # defined here, so that it travels to the workers by value
        (started / f"{args[-1]}-{os.getpid()}").touch()
        while not gate.exists():
            time.sleep(0.02)
        return fn(*args)

    class Gated(cluster.DaskExecutor):
        def submit(self, fn, *args):
            return super().submit(gated, fn, *args)

    return Gated(client)


def wait_for(condition, seconds=120):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.02)


def test_a_worker_killed_mid_fold_costs_a_retry_not_the_run(fashion, local_cluster, tmp_path):
    gate, started = tmp_path / "gate", tmp_path / "started"
    started.mkdir()
    done = {}
    runner = threading.Thread(target=lambda: done.update(run=obtain.run_cv(
        "dt", fashion, n_folds=4, params={"max_depth": 5}, runs_dir=tmp_path / "there", progress=False,
        executor=gated_executor(local_cluster.client, gate, started))))
    runner.start()
    try:
        wait_for(lambda: any(started.iterdir()))
        fold, pid = next(started.iterdir()).name.split("-")  # a fold that cannot have ended: the gate is shut
        (address,) = [a for a, p in local_cluster.client.run(os.getpid).items() if p == int(pid)]
        os.kill(int(pid), signal.SIGKILL)
        wait_for(lambda: address not in local_cluster.client.scheduler_info()["workers"])  # gone, its fold with it
    finally:
        gate.touch()
        runner.join(timeout=300)
    assert done["run"].finished
    assert {p.name for p in started.iterdir() if p.name.startswith(f"{fold}-")} - {f"{fold}-{pid}"}, \
        "the killed worker's fold ran again on another worker"
    here = obtain.run_cv("dt", fashion, n_folds=4, params={"max_depth": 5}, runs_dir=tmp_path / "here", progress=False)
    assert np.array_equal(done["run"].oof(), here.oof(), equal_nan=True)


def test_a_fold_that_raises_is_tried_again_as_retries_says(local_cluster, tmp_path):
    def flaky(attempts, fails):  # raises the first ``fails`` times it runs
        attempts.mkdir(exist_ok=True)
        (attempts / str(len(list(attempts.iterdir())))).touch()
        if len(list(attempts.iterdir())) <= fails:
            raise OSError("a passing fault")
        return "done"

    assert local_cluster.submit(flaky, tmp_path / "passing", cluster.RETRIES).result() == "done"
    with pytest.raises(OSError, match="a passing fault"):
        local_cluster.submit(flaky, tmp_path / "lasting", cluster.RETRIES + 1).result()
    assert len(list((tmp_path / "lasting").iterdir())) == cluster.RETRIES + 1 == 3, \
        "a deterministic error runs three times in all (README)"


def test_two_jobs_with_equal_arguments_both_run(local_cluster, tmp_path):
    def mark(folder):  # a side effect per run
        path = folder / uuid.uuid4().hex
        path.touch()
        return path.name

    first, second = (local_cluster.submit(mark, tmp_path) for _ in range(2))
    assert first.key != second.key and first.result() != second.result()
    assert len(list(tmp_path.iterdir())) == 2, "never merged into one"


def test_a_client_killed_mid_run_resumes_to_the_same_result(fashion_small, fashion, tmp_path):
    """The client is killed (with its local cluster: one process group) once fold 0 is saved, while
    the other folds wait at a gate it never opens; ``--resume`` then finishes the run."""
    script = tmp_path / "client.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\n"
        "from competition.cv import cluster, obtain\nfrom competition.data.loader import load_competition\n"
        "from tests.cv.test_cluster import gated_executor\n"
        "class OnlyFoldZero(cluster.DaskExecutor):\n"
        "    def submit(self, fn, *args):\n"
        "        return (super() if args[-1] == 0 else self.gated).submit(fn, *args)\n"
        "if __name__ == '__main__':  # the cluster's processes import this file too\n"
        "    with cluster.executor(workers=2) as ex:\n"
        "        executor = OnlyFoldZero(ex.client)\n"
        "        executor.gated = gated_executor(ex.client, Path(sys.argv[2]), Path(sys.argv[3]))\n"
        "        obtain.run_cv('rf', load_competition(sys.argv[1]), n_folds=4, params={'n_estimators': 30},\n"
        "                  runs_dir='runs', progress=False, executor=executor)\n")
    (tmp_path / "started").mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2]),
                                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, str(script), str(fashion_small), str(tmp_path / "gate"),
                             str(tmp_path / "started")], cwd=tmp_path, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: list(tmp_path.glob("runs/*/folds/fold-0.json")) or proc.poll() is not None)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client and its cluster's processes alike: nothing orphaned
        proc.wait(timeout=30)
    assert list(tmp_path.glob("runs/*/folds/fold-0.json")), proc.stderr.read()
    (run,) = runs.list_runs(tmp_path / "runs")
    assert not run.finished and run.done_folds == [0]
    assert not list(tmp_path.glob("runs/*/folds/.*.tmp")), "no half-written fold file"
    resumed = subprocess.run([sys.executable, "-m", "competition.cv", "--resume", str(run.path)], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    whole = obtain.run_cv("rf", fashion, n_folds=4, params={"n_estimators": 30}, runs_dir=tmp_path / "whole",
                      progress=False)
    assert np.array_equal(runs.load_run(run.path).oof(), whole.oof(), equal_nan=True)


def test_a_scheduler_that_does_not_answer_is_a_clear_error_within_a_minute(fashion_small, tmp_path):
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "competition.cv", "--model", "dt", "--data", str(fashion_small),
                           "--folds", "3", "--scheduler", f"tcp://127.0.0.1:{free_port()}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert time.monotonic() - start < 60
    assert done.returncode == 1 and "does not answer within 10 s" in done.stderr and "Traceback" not in done.stderr


def test_several_models_in_one_command_share_the_cluster(fashion_small, fashion, tmp_path, capsys):
    command = [sys.executable, "-m", "competition.cv", "--model", "dt", "rf", "--param", "random_state=3",
               "--folds", "3", "--data", str(fashion_small), "--runs-dir", str(tmp_path / "runs"), "--workers", "2"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    made = {run.config["model"]: run for run in runs.list_runs(tmp_path / "runs")}
    assert sorted(made) == ["dt", "rf"] and all(run.finished for run in made.values())
    for model, run in made.items():
        here = obtain.run_cv(model, fashion, n_folds=3, params={"random_state": 3}, runs_dir=tmp_path / "here",
                         progress=False)
        assert np.array_equal(run.oof(), here.oof(), equal_nan=True) and np.array_equal(run.test(), here.test())
    from competition.cv.__main__ import main  # the refusal in this process: it comes before any cluster starts

    assert main([*command[3:6], "--param", "max_iter=5", *command[8:]]) == 1
    assert capsys.readouterr().err.startswith("error: --model dt: unknown parameter 'max_iter'")
