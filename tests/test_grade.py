"""The local grader and the leaderboard: correct public/private scores, an honest ledger."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from competition import grade, ledger
from competition.leaderboard import write_leaderboard


@pytest.fixture
def key(fashion_small):
    solution = pd.read_csv(fashion_small.with_name(fashion_small.name + ".grader") / "solution.csv", dtype=str)
    return solution


def make_submission(folder, key, name, correct: float, seed: int, cv: float | None = None):
    """A submission whose first ``correct`` share of rows is right, with a sidecar holding ``cv``."""
    rng = np.random.default_rng(seed)
    labels = key["class"].to_numpy().copy()
    wrong = rng.permutation(len(labels))[: int(round((1 - correct) * len(labels)))]
    labels[wrong] = [str((int(v) + 1) % 10) for v in labels[wrong]]
    path = folder / f"{name}.csv"
    pd.DataFrame({"id": key["id"], "class": labels}).to_csv(path, index=False)
    if cv is not None:
        path.with_suffix(".json").write_text(json.dumps({
            "name": name, "recipe": {"model": "hand-made", "overrides": {"seed": seed}},
            "cv": {"accuracy_mean": cv, "accuracy_std": 0.01, "oof_rows": 300}}))
    return path


def run_grade(*args, cwd):
    return subprocess.run([sys.executable, "-m", "competition.grade", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def expected_scores(path, key):
    merged = key.merge(pd.read_csv(path, dtype=str), on="id", suffixes=("", "_pred"))
    hit = merged["class"] == merged["class_pred"]
    return hit[merged["Usage"] == "Public"].mean(), hit[merged["Usage"] == "Private"].mean()


def test_scores_public_and_private_rows(fashion_small, key, tmp_path):
    path = make_submission(tmp_path, key, "a", correct=0.7, seed=1, cv=0.71)
    grader = grade.Grader(fashion_small, ledger_path=tmp_path / "ledger.jsonl")
    entry = grader.grade(path)
    public, private = expected_scores(path, key)
    assert entry["status"] == "ok" and entry["public"] == pytest.approx(public) and entry["private"] == pytest.approx(private)
    assert entry["public_rows"] == 30 and entry["private_rows"] == 70
    assert set(entry) >= {"time", "file", "sha256", "recipe", "cv", "public", "private", "status", "message"}
    assert not {"predictions", "labels", "class"} & set(entry), "no labels go into the ledger"


def test_cli_hides_private_until_reveal_and_redraws_the_leaderboard(fashion_small, key, tmp_path):
    paths = [make_submission(tmp_path, key, n, correct=c, seed=s, cv=v)
             for n, c, s, v in [("low", 0.5, 1, 0.55), ("mid", 0.7, 2, 0.68), ("high", 0.9, 3, 0.88)]]
    done = run_grade(*paths, "--data", fashion_small, "--ledger", tmp_path / "ledger.jsonl",
                     "--leaderboard", tmp_path / "leaderboard.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    public, private = expected_scores(paths[2], key)
    assert f"public accuracy {public:.4f} (rank 1 of 3)" in done.stdout
    assert "private: hidden" in done.stdout and f"{private:.4f}" not in done.stdout
    board = (tmp_path / "leaderboard.md").read_text()
    assert board.index("[high]") < board.index("[mid]") < board.index("[low]")
    assert "| hidden |" in board and "Spearman rank correlation between CV and public over 3 submissions: **1.000**" in board
    assert "best CV score" in board and "1. **high**" in board and "2. **mid**" in board
    image = np.asarray(Image.open(tmp_path / "leaderboard.png").convert("L"), dtype=float)
    assert image.shape[0] > 300 and image.var() > 0
    revealed = run_grade(paths[0], "--reveal", "--data", fashion_small, "--ledger", tmp_path / "ledger.jsonl",
                         "--leaderboard", tmp_path / "leaderboard.md", cwd=tmp_path)
    assert "duplicate" in revealed.stderr
    board = (tmp_path / "leaderboard.md").read_text()
    assert "| hidden |" not in board and f"| {private:.4f} |" in board and "After the reveal: pick 1 scored" in board


def test_invalid_files_are_recorded_and_never_counted(fashion_small, key, tmp_path):
    ledger_path = tmp_path / "ledger.jsonl"
    grader = grade.Grader(fashion_small, ledger_path=ledger_path, daily_limit=1)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\n1,2\n")
    assert grader.grade(bad)["status"] == "error"
    first = make_submission(tmp_path, key, "first", correct=0.8, seed=1)
    assert grader.grade(first)["status"] == "ok"  # the error did not use up the quota
    assert grader.grade(first)["status"] == "duplicate"
    second = make_submission(tmp_path, key, "second", correct=0.6, seed=2)
    refused = grader.grade(second)
    assert refused["status"] == "over-limit" and "daily limit of 1" in refused["error"]
    entries = ledger.read(ledger_path)
    assert [e["status"] for e in entries] == ["error", "ok", "duplicate", "over-limit"]
    assert len(ledger.graded(entries)) == 1
    assert "expected columns id,class, got id,label" in entries[0]["error"]


def test_cli_exit_code_and_message_for_a_malformed_file(fashion_small, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,class\n")
    done = run_grade(bad, "--data", fashion_small, "--ledger", tmp_path / "l.jsonl",
                     "--leaderboard", tmp_path / "lb.md", cwd=tmp_path)
    assert done.returncode == 1 and "error: " in done.stderr and "no data rows, expected 100" in done.stderr


def test_leaderboard_is_deterministic_given_the_ledger(fashion_small, key, tmp_path):
    grader = grade.Grader(fashion_small, ledger_path=tmp_path / "ledger.jsonl")
    for n, c in enumerate([0.6, 0.75, 0.8]):
        grader.grade(make_submission(tmp_path, key, f"s{n}", correct=c, seed=n, cv=c - 0.01))
    entries = ledger.read(tmp_path / "ledger.jsonl")
    (tmp_path / "one").mkdir()
    write_leaderboard(entries, tmp_path / "one" / "leaderboard.md")
    (tmp_path / "two").mkdir()
    write_leaderboard(entries, tmp_path / "two" / "leaderboard.md")
    for name in ("leaderboard.md", "leaderboard.png"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_concurrent_graders_keep_every_line(fashion_small, key, tmp_path):
    paths = [make_submission(tmp_path, key, f"p{n}", correct=0.5 + n / 20, seed=n) for n in range(6)]
    ledger_path = tmp_path / "ledger.jsonl"
    procs = [subprocess.Popen([sys.executable, "-m", "competition.grade", *map(str, paths[i::2]), "--data",
                               str(fashion_small), "--ledger", str(ledger_path), "--leaderboard",
                               str(tmp_path / f"lb{i}.md")], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for i in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    entries = ledger.read(ledger_path)
    assert sorted(e["file"] for e in entries) == sorted(map(str, paths))
