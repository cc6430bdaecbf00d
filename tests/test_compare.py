"""``competition compare``: two real runs on the same folds, two submissions on the public rows,
and every pair that does not pair refused in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from competition.cv import core as cv
from competition.data.loader import load_competition


def run_compare(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "competition", "compare", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def four_runs(fashion_small, tmp_path_factory):
    """Two models on the same 3 folds, one on 4 folds, one on a --limit sample of the rows."""
    comp = load_competition(fashion_small)
    folder = tmp_path_factory.mktemp("runs")
    shallow = cv.run_cv("dt", comp, n_folds=3, params={"max_depth": 2}, runs_dir=folder, progress=False)
    deep = cv.run_cv("dt", comp, n_folds=3, params={"max_depth": 8}, runs_dir=folder, progress=False)
    other = cv.run_cv("dt", comp, n_folds=4, params={"max_depth": 2}, runs_dir=folder, progress=False)
    fewer = cv.run_cv("dt", comp, n_folds=3, params={"max_depth": 2}, limit=150, runs_dir=folder, progress=False)
    return shallow, deep, other, fewer


def test_two_runs_compare_on_their_out_of_fold_rows(four_runs):
    shallow, deep, *_ = four_runs
    done = run_compare(shallow.path, deep.path, "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {"a", "b", "metric", "difference", "low", "high", "p", "test"}
    y = shallow.labels()
    right_a = shallow.oof().argmax(axis=1) == y
    right_b = deep.oof().argmax(axis=1) == y
    assert answer["metric"] == "accuracy" and answer["test"] == "mcnemar"
    assert answer["difference"] == pytest.approx(right_b.mean() - right_a.mean())
    only_a, only_b = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    assert answer["p"] == pytest.approx(binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue)
    assert answer["low"] < answer["difference"] < answer["high"]
    said = run_compare(shallow.path, deep.path).stdout.strip()
    assert said.count("\n") == 0 and "McNemar p = " in said and "300 out-of-fold rows" in said
    separated = answer["p"] < 0.05
    assert ("is better than" in said) == separated and ("cannot be told apart" in said) == (not separated)


def test_a_run_against_itself_cannot_be_told_apart(four_runs):
    done = run_compare(four_runs[0].path, four_runs[0].path, "--confidence", "0.9")
    assert done.returncode == 0, done.stderr
    assert "cannot be told apart" in done.stdout and "B - A = +0.0000" in done.stdout


def copied(run, tmp_path, name):
    target = tmp_path / name
    shutil.copytree(run.path, target)
    return target


def edit_json(path, **changes):
    data = json.loads(path.read_text())
    for key, value in changes.items():
        *parents, last = key.split(".")
        node = data
        for parent in parents:
            node = node[parent]
        node[last] = value
    path.write_text(json.dumps(data))


def test_pairs_that_do_not_pair_are_refused_in_one_line(four_runs, tmp_path, fashion_small):
    shallow, deep, other_folds, fewer_rows = four_runs
    elsewhere = copied(deep, tmp_path, "elsewhere")
    edit_json(elsewhere / "config.json", **{"data.fingerprint": "another-competition"})
    damaged = copied(deep, tmp_path, "damaged")
    (damaged / "oof.npy").write_bytes((damaged / "oof.npy").read_bytes()[:100])
    unfinished = copied(deep, tmp_path, "unfinished")
    (unfinished / "scores.json").unlink()
    csv = tmp_path / "a.csv"
    csv.write_text("id,class\n")
    cases = [
        (other_folds.path, "its folds differ"),
        (elsewhere, "another competition"),
        (fewer_rows.path, "its out-of-fold rows differ"),
        (damaged, "oof.npy: damaged or unreadable"),
        (unfinished, "unfinished"),
        (tmp_path / "missing", "no such run folder or submission file"),
        (csv, "not one of each"),
    ]
    for b, message in cases:
        done = run_compare(shallow.path, b)
        assert done.returncode == 1, (b, done.stdout)
        assert done.stdout == "" and done.stderr.count("\n") == 1 and message in done.stderr, (b, done.stderr)


def test_two_submissions_compare_on_the_public_rows(fashion_small, tmp_path):
    key = pd.read_csv(fashion_small.with_name(fashion_small.name + ".grader") / "solution.csv", dtype=str)
    rng = np.random.default_rng(0)
    public = (key["Usage"] == "Public").to_numpy()
    written = {}
    for name, wrong_share in (("a", 0.5), ("b", 0.05)):
        labels = key["class"].to_numpy().copy()
        wrong = rng.random(len(labels)) < wrong_share
        labels[wrong] = [str((int(v) + 1) % 10) for v in labels[wrong]]
        written[name] = labels == key["class"].to_numpy()
        pd.DataFrame({"id": key["id"], "class": labels}).to_csv(tmp_path / f"{name}.csv", index=False)
    done = run_compare(tmp_path / "a.csv", tmp_path / "b.csv", "--data", fashion_small, "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["difference"] == pytest.approx(written["b"][public].mean() - written["a"][public].mean())
    said = run_compare(tmp_path / "a.csv", tmp_path / "b.csv", "--data", fashion_small).stdout
    assert said.startswith(f"{tmp_path / 'b.csv'} is better than {tmp_path / 'a.csv'} by ")
    assert f"{public.sum():,} public rows" in said
    broken = tmp_path / "broken.csv"
    broken.write_text("id,class\nnope,1\n")
    refused = run_compare(tmp_path / "a.csv", broken, "--data", fashion_small)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "broken.csv" in refused.stderr
