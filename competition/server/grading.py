"""Where an upload's CPU work runs: validating and scoring it (``Grader.assess``), one upload at a
time per place, in order of arrival.

Grading is Python under one interpreter lock, so threads of one process never grade faster than one
core. ``InProcess`` grades in the request's own thread, one at a time (the default: nothing to start).
``ProcessPool`` (``serve --graders N``) grades in N worker processes fed from one queue, so every
core grades while the server's own process only speaks HTTP and writes the rows: under a rush of
uploads the server runs near the cores' grading floor, and no upload waits behind a busy process
while another idles (as separate ``--workers`` processes, each with its own connections, can).

Both answer ``Unavailable`` (a 503 with Retry-After) when an upload waits longer than ``wait``
seconds for its turn: nothing was stored, the client tries again.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .. import workers
from ..errors import InputError
from ..grade.grader import Assessment, Grader
from .store import FifoSlots, Unavailable

WAIT = 120  # seconds an upload waits for its turn before a 503


def busy(wait: float) -> Unavailable:
    return Unavailable(f"the grader is busy (an upload waited {wait:g} s for its turn); nothing was stored, "
                       f"try again shortly")


class InProcess:
    """Grade in the calling thread, one upload at a time in arrival order (``FifoSlots``)."""

    def __init__(self, wait: float = WAIT):
        self.wait, self._slot = wait, FifoSlots(1)

    def assess(self, grader: Grader, key_sha256: str, data: bytes, source: str) -> Assessment:
        if not self._slot.acquire(self.wait):
            raise busy(self.wait)
        try:
            return grader.assess(data, source=source)
        finally:
            self._slot.release()

    def start(self) -> None:
        pass


# --- in each worker process: the competition's grader, read once and again after a rescore ---
_loaded: dict[tuple, Grader] = {}


def _assess_in_worker(data_dir: str, solution: str, key_sha256: str, data: bytes, source: str) -> Assessment:
    key = (data_dir, solution, key_sha256)
    if key not in _loaded:
        _loaded.clear()  # one answer key at a time: a rescore's corrected key replaces the old one
        _loaded[key] = Grader(Path(data_dir), Path(solution))
        gc.freeze()  # what is loaded stays out of every collection: no 70 ms pause every few uploads
    return _loaded[key].assess(data, source=source)


def _warm(data_dir: str, solution: str, key_sha256: str) -> None:
    _assess_in_worker(data_dir, solution, key_sha256, b"", "warm-up")


class ProcessPool:
    """Grade in ``processes`` worker processes fed from one first-in first-out queue: spawned (no
    fork of a threaded server) and killed by the kernel when the server dies, however it dies.
    Each reads the answer key once; ``key_sha256`` tells it when ``rescore`` has changed it.

    The kernel's ``PR_SET_PDEATHSIG`` fires when the *thread* that started a process ends, so every
    pool is started from one thread of its own that lives as long as the server (a request's thread
    is retired when idle, and would take the grading processes with it). A worker that dies (out of
    memory, killed) breaks the pool: a fresh pool is started and the upload graded once more there,
    so an upload that was not in flight never fails; one that breaks the fresh pool too answers 503."""

    def __init__(self, processes: int, grader: Grader, key_sha256: str, wait: float = WAIT):
        self.processes, self.wait = processes, wait
        self._first = (grader, key_sha256)
        self._guard = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._starter = ThreadPoolExecutor(1, thread_name_prefix="grading-pool-starter")  # never retired

    def start(self) -> ProcessPoolExecutor:
        """The workers, started now if they are not yet (at the server's start-up, else at the first upload)."""
        with self._guard:
            if self._pool is None:
                self._pool = self._starter.submit(self._started, *self._first).result()
            return self._pool

    def _started(self, grader: Grader, key_sha256: str) -> ProcessPoolExecutor:
        """In the starter's thread: a pool and all its processes (each submit of the warm-up spawns one,
        so none is ever spawned later from a request's thread)."""
        pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=workers.die_with_parent, initargs=(os.getpid(),))
        job = (str(grader.data), str(grader.solution_path), key_sha256)
        for _ in range(self.processes):  # each reads the key now, not at the first upload of a rush
            pool.submit(_warm, *job)
        return pool

    def assess(self, grader: Grader, key_sha256: str, data: bytes, source: str) -> Assessment:
        for attempt in (1, 2):
            pool, future = self.start(), None
            try:
                future = pool.submit(_assess_in_worker, str(grader.data), str(grader.solution_path), key_sha256,
                                     data, source)
                return future.result(timeout=self.wait)
            except FutureTimeout:
                future.cancel()
                raise busy(self.wait) from None
            except BrokenProcessPool:  # found broken by submit, or broken while grading this upload
                self._restart(pool, grader, key_sha256)
            except InputError as exc:  # the grading process could not read the answer key
                print(f"error: a grading process cannot read the answer key ({exc}); restore it, or run rescore "
                      f"--solution CORRECTED.csv", file=sys.stderr, flush=True)
                raise Unavailable(f"the grader cannot read its answer key now ({exc}); nothing was stored, try "
                                  f"again later (the host must restore it or run rescore)") from None
        raise Unavailable("a grading process stopped while grading this upload (out of memory?); nothing was "
                          "stored, try again")

    def _restart(self, broken: ProcessPoolExecutor, grader: Grader, key_sha256: str) -> None:
        """A fresh pool in place of ``broken`` (once, whoever finds it broken), warmed with the key in force."""
        with self._guard:
            if self._pool is broken:
                self._first = (grader, key_sha256)
                self._pool = self._starter.submit(self._started, grader, key_sha256).result()
        broken.shutdown(wait=False, cancel_futures=True)
