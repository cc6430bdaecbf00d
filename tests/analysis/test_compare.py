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

from competition.analysis import compare
from competition.cv import obtain
from competition.data.loader import load_competition
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def four_runs(fashion_small, tmp_path_factory):
    """Two models on the same 3 folds, one on 4 folds, one on a --limit sample of the rows."""
    comp = load_competition(fashion_small)
    folder = tmp_path_factory.mktemp("runs")
    shallow = obtain.run_cv("dt", comp, n_folds=3, params={"max_depth": 2}, runs_dir=folder, progress=False)
    deep = obtain.run_cv("dt", comp, n_folds=3, params={"max_depth": 8}, runs_dir=folder, progress=False)
    other = obtain.run_cv("dt", comp, n_folds=4, params={"max_depth": 2}, runs_dir=folder, progress=False)
    fewer = obtain.run_cv("dt", comp, n_folds=3, params={"max_depth": 2}, limit=150, runs_dir=folder, progress=False)
    return shallow, deep, other, fewer


def test_two_runs_compare_on_their_out_of_fold_rows(four_runs, capsys):
    shallow, deep, *_ = four_runs
    done = run_cli("competition", "compare", shallow.path, deep.path, "--json")
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
    assert compare.main([str(shallow.path), str(deep.path)]) == 0  # the sentence, in this process
    said = capsys.readouterr().out.strip()
    assert said.count("\n") == 0 and "McNemar p = " in said and "300 out-of-fold rows" in said
    separated = answer["p"] < 0.05
    assert ("is better than" in said) == separated and ("cannot be told apart" in said) == (not separated)


def test_a_run_against_itself_cannot_be_told_apart(four_runs, capsys):
    assert compare.main([str(four_runs[0].path), str(four_runs[0].path), "--confidence", "0.9"]) == 0
    said = capsys.readouterr().out
    assert "cannot be told apart" in said and "B - A = +0.0000" in said


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
        done = run_cli("competition", "compare", shallow.path, b)
        assert done.returncode == 1, (b, done.stdout)
        assert done.stdout == "" and done.stderr.count("\n") == 1 and message in done.stderr, (b, done.stderr)


def test_two_submissions_compare_on_the_public_rows(fashion_small, tmp_path, capsys):
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
    done = run_cli("competition", "compare", tmp_path / "a.csv", tmp_path / "b.csv", "--data", fashion_small, "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["difference"] == pytest.approx(written["b"][public].mean() - written["a"][public].mean())
    assert compare.main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--data", str(fashion_small)]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"{tmp_path / 'b.csv'} is better than {tmp_path / 'a.csv'} by ")
    assert f"{public.sum():,} public rows" in said
    broken = tmp_path / "broken.csv"
    broken.write_text("id,class\nnope,1\n")
    refused = run_cli("competition", "compare", tmp_path / "a.csv", broken, "--data", fashion_small)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "broken.csv" in refused.stderr


def test_runs_compare_shows_each_runs_interval_and_tier(four_runs, tmp_path):
    """The interval is Wilson's on the OOF rows (statsmodels, computed here); a copy of the best run
    shares its tier; a run on other folds has none."""
    from statsmodels.stats.proportion import proportion_confint

    from competition import runs

    shallow, deep, other_folds, _ = four_runs
    twin = runs.load_run(copied(deep, tmp_path, "twin-of-deep"))
    text = runs.compare([shallow, deep, twin, other_folds])
    header, *lines = text.splitlines()[1:]
    assert "oof accuracy 95%" in header and header.split()[-1] == "tier"
    rows = {line.split()[0]: line for line in lines}
    for run in (shallow, deep, other_folds):
        right = run.oof().argmax(axis=1) == run.labels()
        low, high = proportion_confint(int(right.sum()), len(right), alpha=0.05, method="wilson")
        assert f"{right.mean():.4f} [{low:.4f}, {high:.4f}]" in rows[run.name]
    best = max((shallow, deep), key=lambda r: r.scores["accuracy_mean"])
    assert rows[best.name].split()[-1] == "1"
    assert rows["twin-of-deep"].split()[-1] == rows[deep.name].split()[-1]
    assert rows[other_folds.name].split()[-1] == "-"


# --- the local board: each public score's interval and the tiers ------------------------------

def crafted_submissions(fashion_small, folder):
    """best: every row right; twin: best but one public row wrong; weak: 40% of rows right. Each
    with a sidecar whose CV puts twin first, so the picks are best-CV twin and the hedge best."""
    import hashlib

    key = pd.read_csv(fashion_small.with_name(fashion_small.name + ".grader") / "solution.csv", dtype=str)
    public = np.flatnonzero((key["Usage"] == "Public").to_numpy())
    right = {"best": np.ones(len(key), bool), "twin": np.ones(len(key), bool),
             "weak": np.random.default_rng(0).random(len(key)) < 0.4}
    right["twin"][public[0]] = False
    for name, cv in (("best", 0.80), ("twin", 0.81), ("weak", 0.40)):
        labels = np.where(right[name], key["class"], [str((int(v) + 1) % 10) for v in key["class"]])
        path = folder / f"{name}.csv"
        pd.DataFrame({"id": key["id"], "class": labels}).to_csv(path, index=False)
        path.with_suffix(".json").write_text(json.dumps({
            "name": name, "recipe": {"model": "hand-made"}, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "cv": {"accuracy_mean": cv, "accuracy_std": 0.01, "oof_rows": 300}}))
    return key, public, right


def board_rows(text):
    return {line.split("[")[1].split("]")[0]: [c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| ") and "](" in line}


def test_the_local_board_shows_intervals_tiers_and_says_a_tie_is_a_tie(fashion_small, tmp_path):
    from statsmodels.stats.proportion import proportion_confint

    key, public, right = crafted_submissions(fashion_small, tmp_path)
    done = subprocess.run([sys.executable, "-m", "competition", "grade", "best.csv", "twin.csv", "weak.csv", "--data",
                           str(fashion_small), "--ledger", "ledger.jsonl", "--leaderboard", "board.md"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "board.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| rank"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    rows = board_rows(text)
    interval, tier = columns.index("public 95%"), columns.index("tier")
    for name in ("best", "twin", "weak"):
        low, high = proportion_confint(int(right[name][public].sum()), len(public), alpha=0.05, method="wilson")
        assert rows[name][interval] == f"[{low:.4f}, {high:.4f}]"
    assert [rows[name][tier] for name in ("best", "twin", "weak")] == ["1", "1", "2"]
    assert "within a tier, the order is noise, not skill" in text
    picks = text.split("## Suggested final picks")[1]
    assert "1. **twin**" in picks and "2. **best**" in picks
    assert "the public #1 (best) is tied with it on the public rows" in picks
    assert "the two picks are tied on the public rows (both tier 1)" in picks
    redrawn = subprocess.run([sys.executable, "-m", "competition", "leaderboard", "--ledger", "ledger.jsonl", "--out",
                              "again.md", "--data", str(fashion_small)], capture_output=True, text=True, cwd=tmp_path,
                             timeout=120)
    assert redrawn.returncode == 0, redrawn.stderr
    drawn = lambda page: [line for line in page.split("\n")[2:] if not line.startswith("<!-- notes:")]  # noqa: E731
    assert drawn((tmp_path / "again.md").read_text().replace("again.png", "board.png")) == drawn(text)


def test_the_board_follows_the_answer_key_and_leaves_out_a_file_whose_bytes_are_gone(fashion_small, tmp_path):
    """The intervals are recomputed from the kept files and the key at every draw: a corrected key
    (here one public label changed) changes them; a kept file deleted leaves its line without one."""
    from competition.grade import ledger
    from competition.grade.grader import Grader
    from competition.grade.local import grade_file, public_bounds

    crafted_submissions(fashion_small, tmp_path)
    grader = Grader(fashion_small)
    store = ledger.Ledger(tmp_path / "ledger.jsonl")
    for name in ("best", "twin", "weak"):
        grade_file(grader, store, tmp_path / f"{name}.csv")
    before = public_bounds(grader, store, store.entries())
    key_path = fashion_small.with_name(fashion_small.name + ".grader") / "solution.csv"
    corrected = pd.read_csv(key_path, dtype=str)
    first_public = corrected.index[corrected["Usage"] == "Public"][1]
    corrected.loc[first_public, "class"] = str((int(corrected.loc[first_public, "class"]) + 1) % 10)
    corrected.to_csv(tmp_path / "corrected.csv", index=False)
    after = public_bounds(Grader(fashion_small, tmp_path / "corrected.csv"), store, store.entries())
    best = next(e for e in store.entries() if e.get("name") == "best")["sha256"]
    assert after[best]["high"] < before[best]["high"]  # one public row of best is wrong now
    (store.kept / f"{best}.csv").unlink()
    (tmp_path / "best.csv").write_text("changed")
    left = public_bounds(grader, store, store.entries())
    assert best not in left and len(left) == 2
