"""Folds on many cores and machines: a Dask cluster as ``cv.crossval.cross_validate``'s executor.

    python -m competition.cv --model rf --workers 2                  # a local cluster of 2 processes
    python -m competition.cv --model rf --scheduler tcp://host:8786  # a running cluster (or COMPETITION_SCHEDULER)

The arrays travel to the workers once (scattered, broadcast), not once per fold; each task fits
one fold and sends back its arrays and scores, and the client writes the run folder fold by fold
exactly as a local run does. A worker that dies mid-fold has its fold run again on another
(Dask's scheduler does that up to ``distributed.scheduler.allowed-failures`` times, 3 by default,
then the fold fails with ``KilledWorker``); a fold that raises is tried again ``RETRIES`` times
(Dask's ``retries=`` covers exceptions only), so a deterministic error runs three times in all.
Tasks are submitted with ``pure=False`` so that two folds with equal arguments are never merged
into one. Each worker runs one fold at a time with the threads it
has, and the models' own ``n_jobs`` follow that share, so TensorFlow, XGBoost and LightGBM do not
oversubscribe the cores (Dask already sets the BLAS thread variables to 1 on its workers;
TensorFlow's pools are sized per task, ``with_tensorflow_threads``).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from .. import extras
from ..errors import InputError

RETRIES = 2  # a fold that raised (a passing fault: a full disk, a lost connection) is tried again this often
TENSORFLOW_THREADS = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
CONNECT_SECONDS = 10  # a scheduler that does not answer within this is reported, not waited for


class ClusterError(InputError):
    """No cluster: a scheduler address that does not answer, or Dask not installed."""


def scheduler_address(scheduler: str | None) -> str | None:
    return scheduler or os.environ.get("COMPETITION_SCHEDULER") or None


def with_tensorflow_threads(threads: int, fn, *args):
    """``fn(*args)`` on a worker, with TensorFlow's thread pools sized to the worker's ``threads``:
    TensorFlow sizes them from every core of the machine when it first runs in a process (two
    one-thread workers would then run four busy threads on two cores), reading these variables
    then. Set on the worker, not the client, so it holds on workers started by hand too."""
    for name in TENSORFLOW_THREADS:
        os.environ.setdefault(name, str(threads))
    return fn(*args)


def with_threads(estimator, threads: int):
    """``estimator`` with every ``n_jobs`` (its own and its wrapped library's) set to ``threads``.
    Only how many threads fit a fold: the fitted model and its predictions are the same."""
    params = estimator.get_params(deep=True)
    return estimator.set_params(**{key: threads for key in params if key.endswith("n_jobs")})


class DaskExecutor:
    """What ``cv.crossval.cross_validate`` needs of an executor (``submit``, ``as_completed``), on a Dask
    client: large arrays scattered once to every worker, retries for folds whose worker died."""

    def __init__(self, client):
        from distributed import as_completed

        self.client, self.as_completed = client, as_completed
        threads = client.nthreads()
        self.threads = max(1, min(threads.values())) if threads else 1
        self._scattered: dict[int, object] = {}

    def _remote(self, value):
        if isinstance(value, np.ndarray) and value.nbytes > 1_000_000:
            if id(value) not in self._scattered:
                self._scattered[id(value)] = self.client.scatter(value, broadcast=True, hash=False)
            return self._scattered[id(value)]
        return value

    def submit(self, fn, *args):
        return self.client.submit(with_tensorflow_threads, self.threads, fn, *[self._remote(a) for a in args],
                                  pure=False, retries=RETRIES)


def check_scheduler(address: str, option: str) -> None:
    """Refuse at once, in one line naming ``option``, an address that is no Dask scheduler's: one
    Dask cannot parse (``garbage``, ``http://...``), or a port that does not answer Dask's handshake
    within ``CONNECT_SECONDS`` (another server there: ``Client`` would wait on it for minutes)."""
    import asyncio

    from distributed.comm import connect

    async def handshake():
        comm = await asyncio.wait_for(connect(address, timeout=CONNECT_SECONDS), CONNECT_SECONDS)
        await comm.close()

    try:
        asyncio.run(handshake())
    except ValueError as exc:
        raise ClusterError(f"{option} {address}: not a Dask scheduler's address ({exc}); "
                           "give tcp://HOST:PORT") from None
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"{option} {address}: no Dask scheduler there; it does not answer within {CONNECT_SECONDS} s"
                           f" ({exc or 'no handshake'})") from None


def require(workers: int | None, scheduler: str | None) -> None:
    """A missing Dask, when ``--workers`` or a scheduler asks for a cluster, said in one line before
    any data is read (``executor`` would say it only once the data is loaded)."""
    if workers or scheduler_address(scheduler):
        extras.ensure(["distributed"], "--workers/--scheduler")


@contextmanager
def executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[DaskExecutor | None]:
    """None (folds run in-process) unless ``workers`` (a local cluster of that many single-thread
    processes) or a scheduler (``scheduler``, else ``COMPETITION_SCHEDULER``) is given."""
    address = scheduler_address(scheduler)
    if not workers and not address:
        yield None
        return
    extras.require("distributed", "--workers/--scheduler")
    from distributed import Client, LocalCluster

    cluster = None
    try:
        if address:
            check_scheduler(address, "--scheduler" if scheduler else "COMPETITION_SCHEDULER")
            client = Client(address, timeout=f"{CONNECT_SECONDS}s")
        else:
            # a free port for the dashboard: clusters side by side
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   silence_logs=logging.CRITICAL)
            client = Client(cluster)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"scheduler {address}: does not answer within {CONNECT_SECONDS} s ({exc})") from None
    except RuntimeError as exc:  # "Nanny failed to start": a worker process died (killed, out of memory) as it began
        raise ClusterError(f"--workers {workers}: a worker of the local Dask cluster died as it started ({exc}"
                           f"{': ' + str(exc.__cause__) if exc.__cause__ else ''}); nothing ran: try again, or "
                           "with fewer --workers") from None
    try:
        yield DaskExecutor(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
