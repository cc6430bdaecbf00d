"""Options without a bound and messages without a name: each refused or bounded in one line, fast,
with real parts (a local Dask cluster's processes, a live port that is no Dask scheduler's)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time

import pytest

from competition.cv.__main__ import main as cv_main
from tests.helpers import one_error_line, run_cli, in_process


def test_workers_beyond_the_folds_and_cores_are_bounded_and_said(fashion_small, tmp_path):
    done = run_cli("competition.cv", "--model", "dt", "--folds", "3", "--data", fashion_small, "--runs-dir",
                   tmp_path / "runs", "--workers", "50", cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    started = min(3, len(os.sched_getaffinity(0)))
    assert re.search(rf"^--workers 50: starting {started}, one for each of the \d+ (cores here|fits to run)$",
                     done.stderr, re.MULTILINE), done.stderr


@pytest.mark.parametrize("address,words", [
    ("garbage", "--scheduler garbage: not a Dask scheduler's address"),
    ("http://127.0.0.1:8786", "--scheduler http://127.0.0.1:8786: not a Dask scheduler's address"),
])
def test_a_scheduler_address_dask_cannot_use_is_one_line(fashion_small, tmp_path, address, words):
    done = in_process(cv_main, "--model", "dt", "--folds", "3", "--data", fashion_small, "--scheduler", address,
                    cwd=tmp_path)
    assert words in one_error_line(done)


def test_a_live_port_that_is_no_dask_scheduler_is_one_line_within_the_connect_timeout(fashion_small, tmp_path):
    """A server that accepts and never answers Dask's handshake (as a web or database server would not)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    start = time.monotonic()
    try:
        done = in_process(cv_main, "--model", "dt", "--folds", "3", "--data", fashion_small, cwd=tmp_path,
                          env={"COMPETITION_SCHEDULER": address})
    finally:
        server.close()
    assert time.monotonic() - start < 60 and accepted
    assert f"COMPETITION_SCHEDULER {address}: no Dask scheduler there" in one_error_line(done)


def test_a_worker_dying_as_the_local_cluster_starts_is_one_line(fashion_small, tmp_path):
    """Each worker process runs a preload script that kills it at once, as an OOM killer might."""
    die = tmp_path / "die.py"
    die.write_text("import os\nos._exit(3)\n")
    done = run_cli("competition.cv", "--model", "dt", "--folds", "3", "--data", fashion_small, "--runs-dir",
                   tmp_path / "runs", "--workers", "2", cwd=tmp_path,
                   env={"DASK_DISTRIBUTED__WORKER__PRELOAD": f'["{die}"]'})
    assert "--workers 2: a worker of the local Dask cluster died as it started" in one_error_line(done)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("model,budget,words", [
    ("mlp", "5", "--time-budget: model mlp takes no time budget (only cnn"),
    ("cnn", "0.001", "--time-budget 0.001: leaves under 1 s of training for each of the run's 3 fits; give at least"),
    ("cnn", "1e308", "--time-budget 1e+308: over a year"),
])
def test_time_budget_messages_name_the_option_and_the_value_typed(tmp_path, model, budget, words):
    done = in_process(cv_main, "--model", model, "--folds", "3", "--time-budget", budget, "--data",
                    tmp_path / "none", cwd=tmp_path)
    line = one_error_line(done)
    assert words in line and "time_budget" not in line
