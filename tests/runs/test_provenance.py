"""One provenance record (``competition.runs.provenance``) for runs, shift studies, blends and submissions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from competition import clock
from competition.runs import provenance
from tests.helpers import check_provenance

ROOT = Path(__file__).resolve().parents[2]


def test_a_record_names_the_commit_the_versions_the_command_and_the_utc_time():
    before = clock.now().replace(microsecond=0)
    record = provenance.record()
    check_provenance(record)
    assert before <= clock.parse(record["created"]) <= clock.now()
    assert record["command"] == sys.argv and record["versions"]["numpy"] == __import__("numpy").__version__
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode == 0:
        assert record["git_commit"].removesuffix("-dirty") == head.stdout.strip()


def test_an_old_local_created_time_reads_as_the_same_moment():
    """Folders written before kept local time with its offset; ``clock.parse`` reads both forms."""
    assert clock.parse("2026-11-29T13:10:11+0100") == clock.parse("2026-11-29T12:10:11Z")
    assert clock.parse("2026-11-29T07:10:11-0500") == clock.parse("2026-11-29T12:10:11Z")
