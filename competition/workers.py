"""Worker process pools that die with their parent.

A ``ProcessPoolExecutor`` whose parent is killed (``kill -9``, the out-of-memory killer) leaves its
workers waiting forever on a queue that other workers keep open, holding memory and the build
folders they write to. On Linux each worker asks the kernel to kill it when its parent dies
(``prctl(PR_SET_PDEATHSIG)``); elsewhere the pool is an ordinary one.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # no prctl: an ordinary worker
        return
    if os.getppid() != parent:  # the parent died before the request: follow it now
        os._exit(1)


def pool(max_workers: int | None = None) -> ProcessPoolExecutor:
    """A process pool whose workers are killed when this process dies."""
    return ProcessPoolExecutor(max_workers=max_workers, initializer=_die_with_parent, initargs=(os.getpid(),))
