"""What made a result, written beside it: the code's git commit (``-dirty`` with uncommitted edits),
the library versions, the command line and when (``created``). One helper for every record that
says where a result came from (a run's ``config.json``, a shift study's settings, a blend, a
submission's sidecar), so that they say it alike.

``created`` is UTC, ISO-8601 with a ``Z`` (``competition.clock``), as the grader's ledger writes
its times; folders written before kept local time with an offset (``2026-11-29T13:10:11+0100``),
which ``clock.parse`` reads as the same moment.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

from .. import clock

PACKAGES = ("numpy", "pandas", "scikit-learn", "xgboost", "lightgbm", "keras", "tensorflow", "jax", "torch")


def git_commit() -> str | None:
    """The commit of this checkout, ``-dirty`` when tracked files have uncommitted edits; None
    outside a git checkout (an installed package) or without git."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode:
        return None
    return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def versions() -> dict[str, str]:
    """Python's version and those of the installed ``PACKAGES`` (the ones not installed are left out)."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def record() -> dict:
    """``git_commit``, ``versions``, ``command`` (``sys.argv``) and ``created`` (now, UTC), to merge
    into what is written."""
    return {"git_commit": git_commit(), "versions": versions(), "command": list(sys.argv),
            "created": clock.iso(clock.now())}
