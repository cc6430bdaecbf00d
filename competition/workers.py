"""Worker process pools that die with their parent and leave Ctrl-C to it.

A ``ProcessPoolExecutor`` whose parent is killed (``kill -9``, the out-of-memory killer) leaves its
workers waiting forever on a queue that other workers keep open, holding memory and the build
folders they write to. On Linux each worker asks the kernel to kill it when its parent dies
(``prctl(PR_SET_PDEATHSIG)``); elsewhere the pool is an ordinary one. Ctrl-C reaches every process
of the terminal's group: a worker interrupted inside the pool's queue can deadlock its parent, so
workers ignore it, and ``pool`` cancels the queued jobs when its block ends in an exception.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Iterator

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # no prctl: an ordinary worker
        return
    if os.getppid() != parent:  # the parent died before the request: follow it now
        os._exit(1)


@contextmanager
def pool(max_workers: int | None = None) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers are killed when this process dies; when the block fails (Ctrl-C
    included) the jobs not started are cancelled and only the running ones are waited for, so the
    caller can then remove what they wrote."""
    executor = ProcessPoolExecutor(max_workers=max_workers, initializer=die_with_parent, initargs=(os.getpid(),))
    try:
        yield executor
    except BaseException:
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)


def bounded(count: int | None, tasks: int, flag: str = "--workers") -> int | None:
    """``count`` processes asked for by ``flag`` (``--workers``, ``serve --graders``), but no more
    than the tasks there are to run at once, nor the cores here: more only start idle processes
    (a thousand take minutes to start, if they ever do, and hold their memory). Says so on stderr."""
    if count is None:
        return None
    cores = len(os.sched_getaffinity(0))
    bound = max(1, min(count, tasks, cores))
    if bound < count:
        why = f"the {cores} cores here" if cores <= tasks else f"the {tasks} fits to run"
        print(f"{flag} {count}: starting {bound}, one for each of {why}", file=sys.stderr)
    return bound
