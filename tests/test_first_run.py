"""A fresh clone is the newcomer's own: its ``submissions/`` holds no submission and its
``leaderboard.md`` says nothing is graded yet, and the first grading there puts the newcomer's
score on that board (the authors' results live in ``results/``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def shipped(*args: str) -> str:
    """What a clone gets, read from git (the working tree is the user's once they run ``make submit``)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout


def test_a_fresh_clone_ships_no_submission_and_an_empty_board():
    assert shipped("ls-files", "--", "submissions").split() == ["submissions/.gitkeep"]
    assert shipped("ls-files", "--", "leaderboard.png") == ""
    assert "No submission has been graded yet" in shipped("show", ":leaderboard.md")


def test_the_first_grade_in_a_fresh_clone_puts_the_newcomers_score_on_their_board(fashion_small, tmp_path):
    (tmp_path / "leaderboard.md").write_text(shipped("show", ":leaderboard.md"), encoding="utf-8")
    (tmp_path / "submissions").mkdir()
    (tmp_path / "submissions" / ".gitkeep").touch()
    key = pd.read_csv(fashion_small.with_name(fashion_small.name + ".grader") / "solution.csv", dtype=str)
    pd.DataFrame({"id": key["id"], "class": key["class"]}).to_csv(tmp_path / "submissions" / "mine.csv", index=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "competition.grade", "submissions/mine.csv",
                           "--data", str(fashion_small)], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "submissions/mine.csv: public accuracy 1.0000 (rank 1 of 1)" in done.stdout
    board = (tmp_path / "leaderboard.md").read_text(encoding="utf-8")
    assert "1 graded submission(s)" in board and "[mine](submissions/mine.csv)" in board
    assert "No submission has been graded yet" not in board
