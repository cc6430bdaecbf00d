"""Shared fixtures: a small slice of the real Fashion-MNIST, and hand-made competitions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from competition.prepare.fashion import DEBIAN_SOURCE, prepare
from tests.helpers import SMALL_TEST, SMALL_TRAIN, answer_key, make_competition


@pytest.fixture(scope="session")
def fashion_source() -> Path:
    if not DEBIAN_SOURCE.is_dir():
        pytest.fail(f"{DEBIAN_SOURCE} is missing: apt-get install dataset-fashion-mnist (.ci/run does)")
    return DEBIAN_SOURCE


@pytest.fixture(scope="session")
def fashion_small(tmp_path_factory, fashion_source) -> Path:
    """A competition folder built by ``prepare`` from the first 300 train / 100 test images.
    Shared by the whole session: tests must not change it (copy it with ``fashion_copy``)."""
    out = tmp_path_factory.mktemp("prepared") / "fashion-small"
    prepare(out, limit_train=SMALL_TRAIN, limit_test=SMALL_TEST, seed=3)
    return out


@pytest.fixture(scope="session")
def key(fashion_small) -> pd.DataFrame:
    """The answer key ``prepare`` wrote beside ``fashion_small`` (ids, classes, Usage), as text.
    Shared by the whole session: tests must not change it."""
    return answer_key(fashion_small)


@pytest.fixture
def fashion_copy(fashion_small, tmp_path) -> Path:
    """A private copy of ``fashion_small`` (without its cache) that a test may break."""
    target = tmp_path / "fashion-copy"
    shutil.copytree(fashion_small, target, ignore=shutil.ignore_patterns(".cache*"))
    return target


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A hand-made 8x8 RGB competition with string labels: 12 train rows (4 per class), 5 test."""
    labels = {f"{i:03d}": ["cat", "dog", "bird"][i % 3] for i in range(12)}
    root, _ = make_competition(tmp_path / "tiny", labels, [f"t{i}" for i in range(5)])
    return root


@pytest.fixture
def clear_of_midnight():
    """For tests of a real server, whose daily quota follows the real UTC clock: never start within
    two minutes of UTC midnight (a quota count would straddle two days); wait for the new day instead."""
    import time
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if (midnight - now).total_seconds() < 120:
        time.sleep((midnight - now).total_seconds() + 1)


@pytest.fixture(scope="module")
def served(fashion_small, tmp_path_factory):
    """Real grader servers for a module (``tests.helpers.Server``, ``serve`` in a child
    process), each stopped with the module: ``served(members, *serve_options, disabled=())`` starts
    one on a new database whose roster is ``members`` (``(team, member)`` pairs, or a team's name for
    a team of one), and returns ``(server, {member: token})``."""
    from competition.server.store import Store
    from tests.helpers import Server

    running = []

    def start(members, *options: str, disabled=()):
        db = tmp_path_factory.mktemp("served") / "grader.sqlite"
        store = Store(db)
        roster = [(member, member) if isinstance(member, str) else tuple(member) for member in members]
        tokens = {member: token for _, member, token in store.add_members(roster)}
        for team in disabled:
            store.set_disabled(team, True)
        running.append(Server(fashion_small, db, *options))
        return running[-1], tokens

    yield start
    for server in running:
        server.stop()
