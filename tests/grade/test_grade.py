"""The local grader and the leaderboard: correct public/private scores, an honest ledger."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from competition.grade import ledger
from competition.grade.__main__ import main as grade_main
from competition.grade.answer_key import AnswerKeyError
from competition.grade.grader import Grader
from competition.grade.local import grade_file, grade_files, report
from competition.errors import InputWarning
from competition.grade.leaderboard import chart_png, write_leaderboard
from tests.helpers import run_cli, in_process


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
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "cv": {"accuracy_mean": cv, "accuracy_std": 0.01, "oof_rows": 300}}))
    return path


def expected_scores(path, key):
    merged = key.merge(pd.read_csv(path, dtype=str), on="id", suffixes=("", "_pred"))
    hit = merged["class"] == merged["class_pred"]
    return hit[merged["Usage"] == "Public"].mean(), hit[merged["Usage"] == "Private"].mean()


def local_grader(fashion_small, tmp_path, **options):
    """The grading core with the local ledger as its storage."""
    return Grader(fashion_small, **options), ledger.Ledger(tmp_path / "ledger.jsonl")


def test_scores_public_and_private_rows_and_keeps_private_out_of_the_ledger(fashion_small, key, tmp_path):
    path = make_submission(tmp_path, key, "a", correct=0.7, seed=1, cv=0.71)
    grader, store = local_grader(fashion_small, tmp_path)
    entry = grade_file(grader, store, path)
    public, private = expected_scores(path, key)
    assert (entry["status"] == "ok" and entry["public"] == pytest.approx(public)
            and entry["private"] == pytest.approx(private))
    assert entry["public_rows"] == 30 and entry["private_rows"] == 70 and entry["time"].endswith("Z")
    (line,) = [json.loads(text) for text in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert set(line) >= {"time", "file", "sha256", "recipe", "cv", "public", "status", "message", "team"}
    assert "private" not in line, "no private score is written before the reveal"
    assert not {"predictions", "labels", "class"} & set(line), "no labels go into the ledger"
    assert (tmp_path / "graded" / f"{line['sha256']}.csv").read_bytes() == path.read_bytes()


def test_cli_hides_private_until_reveal_and_redraws_the_leaderboard(fashion_small, key, tmp_path):
    paths = [make_submission(tmp_path, key, n, correct=c, seed=s, cv=v)
             for n, c, s, v in [("low", 0.5, 1, 0.55), ("mid", 0.7, 2, 0.68), ("high", 0.9, 3, 0.88)]]
    done = in_process(grade_main, *paths, "--data", fashion_small, "--ledger", tmp_path / "ledger.jsonl",
                    "--leaderboard", tmp_path / "leaderboard.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    public, private = expected_scores(paths[2], key)
    assert f"public accuracy {public:.4f} (rank 1 of 3)" in done.stdout
    assert "private: hidden" in done.stdout and f"{private:.4f}" not in done.stdout
    board = (tmp_path / "leaderboard.md").read_text()
    assert board.index("[high]") < board.index("[mid]") < board.index("[low]")
    assert ("| hidden |" in board
            and "Spearman rank correlation between CV and public over 3 submissions: **1.000**" in board)
    assert "best CV score" in board and "1. **high**" in board and "2. **mid**" in board
    image = np.asarray(Image.open(tmp_path / "leaderboard.png").convert("L"), dtype=float)
    assert image.shape[0] > 300 and image.var() > 0
    paths[2].write_text("edited after grading\n")  # the reveal scores the kept bytes, not this
    revealed = in_process(grade_main, paths[0], "--reveal", "--data", fashion_small, "--ledger",
                        tmp_path / "ledger.jsonl", "--leaderboard", tmp_path / "leaderboard.md", cwd=tmp_path)
    assert revealed.returncode == 0, revealed.stderr
    low_public, low_private = expected_scores(paths[0], key)
    assert f"duplicate of {paths[0]}" in revealed.stdout and f"public accuracy {low_public:.4f}" in revealed.stdout
    assert f"private {low_private:.4f}" in revealed.stdout
    board = (tmp_path / "leaderboard.md").read_text()
    assert "| hidden |" not in board and f"| {private:.4f} |" in board and "After the reveal: pick 1 scored" in board


def test_invalid_files_are_recorded_and_never_counted(fashion_small, key, tmp_path):
    grader, store = local_grader(fashion_small, tmp_path, daily_limit=1)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\n1,2\n")
    assert grade_file(grader, store, bad)["status"] == "error"
    first = make_submission(tmp_path, key, "first", correct=0.8, seed=1)
    counted = grade_file(grader, store, first)
    assert counted["status"] == "ok" and not counted["duplicate"]  # the error did not use up the quota
    assert counted["submissions_left_today"] == 0
    again = grade_file(grader, store, first)
    assert again["duplicate"] and again["public"] == counted["public"] and again["id"] == counted["id"]
    second = make_submission(tmp_path, key, "second", correct=0.6, seed=2)
    refused = grade_file(grader, store, second, )
    assert refused["status"] == "over-limit" and "daily limit of 1 graded submissions reached" in refused["error"]
    tomorrow = refused["resets_at"]
    assert tomorrow.endswith("T00:00:00Z") and f"the limit resets at {tomorrow} (UTC midnight, in " in refused["error"]
    entries = ledger.read(tmp_path / "ledger.jsonl")
    assert [e["status"] for e in entries] == ["error", "ok"], "duplicates and refusals are not recorded"
    assert "expected columns id,class, got id,label" in entries[0]["error"]


def test_the_daily_limit_counts_the_utc_day(fashion_small, key, tmp_path):
    grader, store = local_grader(fashion_small, tmp_path, daily_limit=1)
    paths = [make_submission(tmp_path, key, f"s{n}", correct=0.6 + n / 10, seed=n) for n in range(3)]
    late = datetime(2026, 3, 1, 23, 59, 30, tzinfo=timezone.utc)
    assert grader.grade(paths[0].read_bytes(), store, now=late)["status"] == "ok"
    refused = grader.grade(paths[1].read_bytes(), store, now=late + timedelta(seconds=20))
    assert refused["status"] == "over-limit" and refused["resets_at"] == "2026-03-02T00:00:00Z"
    assert "(UTC midnight, in 0h00m)" in refused["error"]
    assert grader.grade(paths[1].read_bytes(), store, now=late + timedelta(seconds=31))["status"] == "ok"


def test_a_file_graded_at_midnight_counts_for_the_day_that_starts(fashion_small, key, tmp_path):
    grader, store = local_grader(fashion_small, tmp_path, daily_limit=1)
    paths = [make_submission(tmp_path, key, f"s{n}", correct=0.6 + n / 10, seed=n) for n in range(2)]
    midnight = datetime(2026, 3, 2, tzinfo=timezone.utc)
    assert grader.grade(paths[0].read_bytes(), store, now=midnight)["status"] == "ok"
    refused = grader.grade(paths[1].read_bytes(), store, now=midnight + timedelta(hours=23, minutes=59, seconds=59))
    assert refused["status"] == "over-limit" and refused["resets_at"] == "2026-03-03T00:00:00Z"


def test_cli_exit_code_and_message_for_a_malformed_file(fashion_small, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,class\n")
    done = in_process(grade_main, bad, "--data", fashion_small, "--ledger", tmp_path / "l.jsonl", "--leaderboard",
                    tmp_path / "lb.md", cwd=tmp_path)
    assert done.returncode == 1 and "error: " in done.stderr and "no data rows, expected 100" in done.stderr


def test_leaderboard_is_deterministic_given_the_ledger(fashion_small, key, tmp_path):
    grader, store = local_grader(fashion_small, tmp_path)
    for n, c in enumerate([0.6, 0.75, 0.8]):
        grade_file(grader, store, make_submission(tmp_path, key, f"s{n}", correct=c, seed=n, cv=c - 0.01))
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


def broken_key(fashion_small, tmp_path, edit):
    """A copy of the answer key changed by ``edit`` (a function of the key's DataFrame)."""
    solution = pd.read_csv(fashion_small.with_name(fashion_small.name + ".grader") / "solution.csv", dtype=str)
    path = tmp_path / "solution.csv"
    edit(solution).to_csv(path, index=False)
    return path


def with_cells(table, **cells):
    table = table.copy()
    for key, value in cells.items():
        column, row = key.rsplit("_", 1)
        table.loc[int(row), column] = value
    return table


KEYS = {
    "cut to 50 rows": (lambda t: t.head(50), r"100 data row\(s\) expected|50 data row\(s\), expected 100; 50 id\(s\) "
                       r"of the sample submission missing"),
    "Usage written public": (lambda t: with_cells(t, Usage_7="public"), r"solution.csv, line 9: Usage 'public', "
                             r"expected Public or Private"),
    "label 2.0": (lambda t: with_cells(t, class_3="2.0"), r"line 5: '2.0' in column 'class' is not a class"),
    "blank label": (lambda t: with_cells(t, class_4=""), r"line 6: empty or NaN prediction in column 'class'"),
    "unknown id": (lambda t: with_cells(t, id_0="nope"), r"1 id\(s\) not in the sample submission: 'nope'"),
    "no Private rows": (lambda t: t.assign(Usage="Public"), r"solution.csv: no Private rows"),
    "other columns": (lambda t: t.rename(columns={"Usage": "usage"}),
                      r"expected columns id,class,Usage, got id,class,usage"),
}


@pytest.mark.parametrize("case", list(KEYS))
def test_an_answer_key_that_does_not_fit_is_refused(fashion_small, tmp_path, case):
    edit, message = KEYS[case]
    with pytest.raises(AnswerKeyError, match=message):
        Grader(fashion_small, broken_key(fashion_small, tmp_path, edit))


def test_cli_refuses_a_bad_key_and_a_bad_daily_limit_in_one_line(fashion_small, key, tmp_path):
    path = make_submission(tmp_path, key, "a", correct=0.7, seed=1)
    bad_key = broken_key(fashion_small, tmp_path, lambda t: with_cells(t, Usage_7="public"))
    done = in_process(grade_main, path, "--data", fashion_small, "--solution", bad_key, "--ledger",
                    tmp_path / "l.jsonl", cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Usage 'public'" in done.stderr
    done = in_process(grade_main, path, "--data", fashion_small, "--daily-limit", "-1", cwd=tmp_path)
    assert done.returncode == 1 and "argument --daily-limit: must be at least 1, got -1" in done.stderr
    assert not (tmp_path / "l.jsonl").exists() and not (tmp_path / "submissions").exists()


def test_a_sidecar_that_does_not_belong_to_the_file_is_ignored(fashion_small, key, tmp_path):
    grader, store = local_grader(fashion_small, tmp_path)
    edited = make_submission(tmp_path, key, "edited", correct=0.7, seed=1, cv=0.99)
    edited.write_text(edited.read_text().replace(",0\n", ",1\n", 1))  # changed after its sidecar was written
    with pytest.warns(InputWarning, match="edited.json: ignored, it describes another file"):
        entry = grade_file(grader, store, edited)
    assert entry["status"] == "ok" and entry["cv"] is None and entry["name"] == "edited"
    poisoned = make_submission(tmp_path, key, "poisoned", correct=0.6, seed=2, cv=0.5)
    meta = json.loads(poisoned.with_suffix(".json").read_text())
    poisoned.with_suffix(".json").write_text(json.dumps({**meta, "cv": {**meta["cv"], "accuracy_mean": "0.99"}}))
    with pytest.warns(InputWarning, match="poisoned.json: ignored, its CV score is not a number"):
        assert grade_file(grader, store, poisoned)["cv"] is None
    honest = make_submission(tmp_path, key, "honest", correct=0.8, seed=3, cv=0.79)
    assert grade_file(grader, store, honest)["cv"]["accuracy_mean"] == 0.79
    write_leaderboard(ledger.read(tmp_path / "ledger.jsonl"), tmp_path / "leaderboard.md")
    assert "1. **honest** — best CV score" in (tmp_path / "leaderboard.md").read_text()


def test_a_torn_or_poisoned_ledger_line_is_skipped_never_fatal(fashion_small, key, tmp_path):
    ledger_path = tmp_path / "ledger.jsonl"
    grader, store = local_grader(fashion_small, tmp_path)
    grade_file(grader, store, make_submission(tmp_path, key, "first", correct=0.7, seed=1, cv=0.7))
    good = ledger_path.read_text()
    poisoned = json.loads(good)
    poisoned.update(sha256="0" * 64, cv={"accuracy_mean": "high", "accuracy_std": 0.1})
    ledger_path.write_text(good + json.dumps(poisoned) + "\n" + good[:40])  # a poisoned line, then a torn one
    done = in_process(grade_main, make_submission(tmp_path, key, "second", correct=0.8, seed=2), "--data",
                    fashion_small, "--ledger", ledger_path, "--leaderboard", tmp_path / "lb.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "line 2: its CV score is not a number; skipped" in done.stderr and "line 3: not JSON" in done.stderr
    with pytest.warns(InputWarning):
        assert [e["name"] for e in ledger.read(ledger_path)] == ["first", "second"]  # the new line was not swallowed
    board = (tmp_path / "lb.md").read_text()
    assert "[first]" in board and "[second]" in board


def test_a_recipe_the_board_cannot_read_is_refused_in_a_sidecar_and_skipped_in_the_ledger(fashion_small, key,
                                                                                             tmp_path):
    grader, store = local_grader(fashion_small, tmp_path)
    odd = make_submission(tmp_path, key, "odd", correct=0.7, seed=1, cv=0.7)
    meta = json.loads(odd.with_suffix(".json").read_text())
    odd.with_suffix(".json").write_text(json.dumps({**meta, "recipe": {**meta["recipe"], "params": "epochs=7"}}))
    with pytest.warns(InputWarning, match="odd.json: ignored, its name or recipe is malformed"):
        assert grade_file(grader, store, odd)["recipe"] is None
    ledger_path = tmp_path / "ledger.jsonl"
    good = json.loads(ledger_path.read_text())
    members = {**good, "sha256": "1" * 64, "recipe": {"model": "ensemble-mean", "members": [None]}}
    overrides = {**good, "sha256": "2" * 64, "recipe": {"model": "cnn", "overrides": [["width", 8]]}}
    ledger_path.write_text("".join(json.dumps(entry) + "\n" for entry in (good, members, overrides)))
    with pytest.warns(InputWarning) as warned:
        kept = ledger.read(ledger_path)
    assert [str(w.message) for w in warned] == [f"{ledger_path}, line {n}: its recipe is malformed; skipped"
                                                for n in (2, 3)]
    assert [e["name"] for e in kept] == ["odd"]
    write_leaderboard(kept, tmp_path / "lb.md")  # the board draws from what the reader kept
    assert "[odd]" in (tmp_path / "lb.md").read_text()


def test_one_file_graded_at_once_by_four_graders_counts_once(fashion_small, key, tmp_path, monkeypatch):
    path = make_submission(tmp_path, key, "same", correct=0.7, seed=1)
    real_find = ledger.Ledger.find

    def slow_find(self, team, sha256):  # widen the read-then-append window the transaction must close
        found = real_find(self, team, sha256)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(ledger.Ledger, "find", slow_find)
    grader = Grader(fashion_small)
    stores = [ledger.Ledger(tmp_path / "ledger.jsonl") for _ in range(4)]  # four graders, four lock handles
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda store: grade_file(grader, store, path), stores))
    assert sorted(r["duplicate"] for r in results) == [False, True, True, True]
    assert len(ledger.graded(ledger.read(tmp_path / "ledger.jsonl"))) == 1


def test_concurrent_graders_leave_a_leaderboard_listing_every_file(fashion_small, key, tmp_path):
    paths = [make_submission(tmp_path, key, f"p{n}", correct=0.5 + n / 30, seed=n) for n in range(8)]
    procs = [subprocess.Popen([sys.executable, "-m", "competition.grade", *map(str, paths[i::4]), "--data",
                               str(fashion_small), "--ledger", str(tmp_path / "ledger.jsonl"), "--leaderboard",
                               str(tmp_path / "lb.md")], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for i in range(4)]  # four graders, two files each
    assert [p.wait(timeout=180) for p in procs] == [0] * len(procs)
    board = (tmp_path / "lb.md").read_text()
    assert "8 graded submission(s)" in board and all(f"[p{n}]" in board for n in range(8))


def test_a_leaderboard_or_ledger_path_naming_another_file_is_refused(fashion_small, key, tmp_path):
    path = make_submission(tmp_path, key, "a", correct=0.7, seed=1)
    readme = tmp_path / "README.md"
    readme.write_text("# My project\n")
    done = in_process(grade_main, path, "--data", fashion_small, "--leaderboard", readme, "--ledger",
                    tmp_path / "l.jsonl", cwd=tmp_path)
    assert done.returncode == 1 and "README.md: exists and is not a leaderboard drawn by this toolkit" in done.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n")
    done = in_process(grade_main, path, "--data", fashion_small, "--ledger", notes, "--leaderboard",
                    tmp_path / "lb.md", cwd=tmp_path)
    assert done.returncode == 1 and "notes.txt: exists and is not a ledger" in done.stderr
    assert readme.read_text() == "# My project\n" and notes.read_text() == "shopping list\n"
    assert not (tmp_path / "l.jsonl").exists() and not (tmp_path / "lb.md").exists()


def test_the_leaderboard_is_drawn_from_the_ledger_inside_its_lock(fashion_small, key, tmp_path, monkeypatch):
    """A grader drawing a slow chart must not let another one record a file and then write its own
    board over the newer one: the second grader waits for the lock, so the last board lists both."""
    from competition.grade import leaderboard

    first, second = (make_submission(tmp_path, key, name, correct=c, seed=s, cv=c)
                     for name, c, s in (("first", 0.6, 1), ("second", 0.8, 2)))
    drawing = threading.Event()
    real_draw = leaderboard.chart_png

    def slow_first_draw(entries, *metric):
        if not drawing.is_set():
            drawing.set()
            time.sleep(1.0)
        return real_draw(entries, *metric)

    monkeypatch.setattr(leaderboard, "chart_png", slow_first_draw)
    common = ["--data", str(fashion_small), "--ledger", str(tmp_path / "ledger.jsonl"),
              "--leaderboard", str(tmp_path / "lb.md")]
    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(grade_main, [str(first), *common])
        assert drawing.wait(timeout=60)
        two = pool.submit(grade_main, [str(second), *common])
        assert one.result() == 0 and two.result() == 0
    board = (tmp_path / "lb.md").read_text()
    assert "2 graded submission(s)" in board and "[first]" in board and "[second]" in board


def test_a_ledger_of_another_competition_is_refused(fashion_small, key, tmp_path, fashion_source):
    from competition.prepare.fashion import prepare

    other = prepare(tmp_path / "other", limit_train=40, limit_test=20)
    path = make_submission(tmp_path, key, "a", correct=0.7, seed=1)
    assert in_process(grade_main, path, "--data", fashion_small, "--ledger", tmp_path / "l.jsonl",
                    "--leaderboard", tmp_path / "lb.md", cwd=tmp_path).returncode == 0
    sample = pd.read_csv(other / "test_sample.csv", dtype=str)
    (tmp_path / "o.csv").write_text(sample.to_csv(index=False))
    done = in_process(grade_main, tmp_path / "o.csv", "--data", other, "--ledger", tmp_path / "l.jsonl",
                    "--leaderboard", tmp_path / "lb.md", cwd=tmp_path)
    assert done.returncode == 1 and "holds submissions of another competition (fashion-small:" in done.stderr
    assert len(ledger.read(tmp_path / "l.jsonl")) == 1


def test_a_forged_score_and_a_pipe_are_refused(fashion_small, key, tmp_path):
    grader, store = local_grader(fashion_small, tmp_path)
    grade_file(grader, store, make_submission(tmp_path, key, "real", correct=0.7, seed=1))
    forged = {**json.loads((tmp_path / "ledger.jsonl").read_text()), "public": 1.5, "sha256": "0" * 64}
    with open(tmp_path / "ledger.jsonl", "a") as f:
        f.write(json.dumps(forged) + "\n")
    with pytest.warns(InputWarning, match="line 2: its public accuracy 1.5 is not between 0 and 1"):
        assert len(ledger.read(tmp_path / "ledger.jsonl")) == 1
    os.mkfifo(tmp_path / "pipe.csv")  # no writer: reading it would wait forever
    result = grade_file(grader, store, tmp_path / "pipe.csv")
    assert result["status"] == "error" and "pipe.csv: not a regular file" in result["error"]


def test_leaderboard_refuses_a_missing_or_folder_ledger(tmp_path):
    (tmp_path / "folder").mkdir()
    for ledger_arg, words in ((tmp_path / "none.jsonl", "no such ledger"), (tmp_path / "folder", "is a folder")):
        done = subprocess.run([sys.executable, "-m", "competition.leaderboard", "--ledger", str(ledger_arg), "--out",
                               str(tmp_path / "lb.md")], capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert done.returncode == 1 and words in done.stderr
    assert not (tmp_path / "lb.md").exists()


def test_the_leaderboard_tells_a_refit_and_averaged_seeds_from_the_folds_mean():
    from competition.grade.leaderboard import recipe_text

    assert recipe_text({"recipe": {"model": "cnn", "refit": False, "seeds": 1}}) == "cnn"
    assert recipe_text({"recipe": {"model": "cnn", "refit": True, "seeds": 3}}) == "cnn [3 seeds] [refit on all rows]"


def test_the_leaderboard_tells_an_ensembles_members_apart_by_what_they_changed():
    from competition.grade.leaderboard import recipe_text

    members = [{"model": "cnn", "overrides": {}}, {"model": "cnn", "overrides": {"random_state": 88}, "seeds": 2},
               {"model": "xgb", "refit": True}]
    assert recipe_text({"recipe": {"model": "ensemble-stack", "members": members, "limit": 600}}) == \
        "ensemble-stack of cnn + cnn (random_state=88) [2 seeds] + xgb [refit on all rows] [limit 600]"


def test_the_leaderboard_reads_each_recipe_against_its_models_newest_plain_run():
    from competition.grade.leaderboard import plain_params, recipe_text, table

    def entry(day, overrides, **params):
        return {"recipe": {"model": "cnn", "overrides": overrides, "params": params}, "public": 0.9,
                "name": f"cnn-{day}", "file": f"submissions/cnn-{day}.csv", "time": f"2026-12-{day}T10:00:00Z",
                "sha256": day * 32}

    earlier = entry("01", {}, epochs=24, flip=True, width=16, missing=float("nan"), dropout=0.3)  # defaults then
    today = entry("07", {}, epochs=None, flip=False, width=16, missing=float("nan"))  # no dropout: not comparable
    wider = entry("05", {"width": 32}, epochs=None, flip=False, width=32, missing=float("nan"))
    plain = plain_params([earlier, today, wider])  # in the ledger's order
    assert plain == {"cnn": today["recipe"]["params"]}, "the newest recipe that overrode nothing"
    assert recipe_text(earlier, plain) == "cnn (epochs=24, flip=True)", "what differs from today's plain run"
    assert recipe_text(today, plain) == "cnn" and recipe_text(wider, plain) == "cnn (width=32)"
    assert recipe_text(earlier) == "cnn", "alone, a recipe names what it overrode"
    drawn = "\n".join(table([today, earlier, wider], reveal=False, base=Path(".")))  # ranked, not in time order
    assert "| cnn (epochs=24, flip=True) |" in drawn and "| cnn |" in drawn and "| cnn (width=32) |" in drawn


def grade_into(tmp_path, fashion_small, *paths):
    return in_process(grade_main, *paths, "--data", fashion_small, "--ledger", tmp_path / "l.jsonl",
                    "--leaderboard", tmp_path / "lb.md", cwd=tmp_path)


def test_a_users_own_picture_beside_the_board_is_never_drawn_over(fashion_small, key, tmp_path):
    """The board was drawn (without a chart: no CV yet); the user then puts a picture of their own
    where the chart would go. A grade that would draw the chart refuses, naming it, and grades nothing."""
    assert grade_into(tmp_path, fashion_small, make_submission(tmp_path, key, "a", correct=0.7, seed=1)).returncode == 0
    picture = tmp_path / "lb.png"
    Image.new("RGB", (5, 5), "red").save(picture)
    mine = picture.read_bytes()
    done = grade_into(tmp_path, fashion_small, make_submission(tmp_path, key, "b", correct=0.8, seed=2, cv=0.8))
    assert done.returncode == 1 and "lb.png is not the chart grade drew last" in done.stderr
    assert picture.read_bytes() == mine and len(ledger.read(tmp_path / "l.jsonl")) == 1
    # a chart grade drew and the user then changed is theirs too
    picture.unlink()
    assert grade_into(tmp_path, fashion_small, tmp_path / "b.csv").returncode == 0
    Image.new("RGB", (5, 5), "blue").save(picture)
    mine = picture.read_bytes()
    done = grade_into(tmp_path, fashion_small, make_submission(tmp_path, key, "c", correct=0.9, seed=3, cv=0.9))
    assert done.returncode == 1 and "lb.png is not the chart grade drew last" in done.stderr
    assert picture.read_bytes() == mine


def test_notes_below_the_notes_line_survive_every_redraw(fashion_small, key, tmp_path):
    board = tmp_path / "lb.md"
    assert grade_into(tmp_path, fashion_small, make_submission(tmp_path, key, "a", correct=0.7,
                                                               seed=1, cv=0.7)).returncode == 0
    notes = "\n## My notes\n\nTry a wider cnn next; a is overfit.\n"
    board.write_text(board.read_text() + notes)
    for n, name in enumerate("bc", start=2):
        assert grade_into(tmp_path, fashion_small, make_submission(tmp_path, key, name, correct=0.8, seed=n,
                                                                   cv=0.8)).returncode == 0
        text = board.read_text()
        assert f"{n} graded submission(s)" in text and text.endswith(notes)


def test_an_edit_above_the_notes_line_is_refused_before_grading(fashion_small, key, tmp_path):
    board = tmp_path / "lb.md"
    assert grade_into(tmp_path, fashion_small, make_submission(tmp_path, key, "a", correct=0.7,
                                                               seed=1, cv=0.7)).returncode == 0
    edited = board.read_text().replace("## Does CV predict public?", "## Does CV predict public? (I doubt it)")
    board.write_text(edited)
    done = grade_into(tmp_path, fashion_small, make_submission(tmp_path, key, "b", correct=0.8, seed=2))
    assert done.returncode == 1 and "lb.md: edited by hand above its notes line" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert board.read_text() == edited and len(ledger.read(tmp_path / "l.jsonl")) == 1


def test_a_board_drawn_before_the_notes_line_is_redrawn_only_if_unedited(fashion_small, key, tmp_path):
    from competition.grade.leaderboard import render

    board = tmp_path / "lb.md"
    assert grade_into(tmp_path, fashion_small, make_submission(tmp_path, key, "a", correct=0.7, seed=1)).returncode == 0
    old = render(ledger.read(tmp_path / "l.jsonl"), fashion_small.name, tmp_path, None)  # as an older version drew it
    board.write_text(old + "my note\n")
    done = grade_into(tmp_path, fashion_small, make_submission(tmp_path, key, "b", correct=0.8, seed=2))
    assert done.returncode == 1 and "lb.md: differs from the board its ledger draws" in done.stderr
    assert board.read_text() == old + "my note\n"
    board.write_text(old)
    Image.new("RGB", (5, 5), "red").save(tmp_path / "lb.png")  # the user's: that board drew no chart
    done = grade_into(tmp_path, fashion_small, tmp_path / "b.csv")
    assert done.returncode == 1 and "lb.png is not the chart grade drew last" in done.stderr
    (tmp_path / "lb.png").unlink()
    assert grade_into(tmp_path, fashion_small, tmp_path / "b.csv").returncode == 0
    assert "2 graded submission(s)" in board.read_text()


def test_shared_files_follow_the_umask_and_the_answer_key_is_secret(fashion_small, key, tmp_path):
    from competition.prepare.fashion import prepare

    board = tmp_path / "lb.md"
    board_mode = lambda: board.stat().st_mode & 0o777  # noqa: E731
    assert grade_into(tmp_path, fashion_small, make_submission(tmp_path, key, "a", correct=0.7,
                                                               seed=1, cv=0.7)).returncode == 0
    os.chmod(board, 0o644)

    old = os.umask(0o022)
    try:
        assert grade_into(tmp_path, fashion_small, make_submission(tmp_path, key, "b", correct=0.8,
                                                                   seed=2)).returncode == 0
        assert board_mode() == 0o644 and tmp_path.joinpath("lb.png").stat().st_mode & 0o777 == 0o644
        os.umask(0o027)  # and a child's, as a user's shell hands it to the command
        assert run_cli("competition.grade", make_submission(tmp_path, key, "c", correct=0.8, seed=3), "--data",
                       fashion_small, "--ledger", tmp_path / "l.jsonl", "--leaderboard", board,
                       cwd=tmp_path).returncode == 0
        assert board_mode() == 0o640
        out = prepare(tmp_path / "comp", limit_train=30, limit_test=20)
    finally:
        os.umask(old)
    assert (out.with_name("comp.grader") / "solution.csv").stat().st_mode & 0o777 == 0o600
    assert (out / "train.csv").stat().st_mode & 0o777 == 0o640


def test_a_leaderboard_or_ledger_that_is_a_pipe_is_refused_naming_the_option(fashion_small, key, tmp_path):
    path = make_submission(tmp_path, key, "a", correct=0.7, seed=1)
    os.mkfifo(tmp_path / "pipe")
    for option in ("--leaderboard", "--ledger"):
        paths = {"--leaderboard": tmp_path / "lb.md", "--ledger": tmp_path / "l.jsonl", option: tmp_path / "pipe"}
        done = in_process(grade_main, path, "--data", fashion_small,
                        *[str(x) for item in paths.items() for x in item], cwd=tmp_path)
        assert done.returncode == 1 and f"{option} {tmp_path / 'pipe'}: not a regular file" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_a_prepare_rerun_with_another_seed_is_another_competition(tmp_path):
    """Same folder name, same sample, other answers: the ledger of the first refuses the second."""
    from competition.prepare.fashion import prepare

    out = prepare(tmp_path / "comp", limit_train=40, limit_test=30, seed=0)
    sample = pd.read_csv(out / "test_sample.csv", dtype=str)
    (tmp_path / "guess.csv").write_text(sample.to_csv(index=False))
    assert grade_into(tmp_path, out, tmp_path / "guess.csv").returncode == 0
    first = Grader(out)
    prepare(out, limit_train=40, limit_test=30, seed=1)
    assert pd.read_csv(out / "test_sample.csv", dtype=str).equals(sample)
    second = Grader(out).competition
    assert second != first.competition
    train = pd.read_csv(out / "train.csv", dtype=str)
    train.loc[0, "class"] = (train.loc[1, "class"] if train.loc[0, "class"] != train.loc[1, "class"]
                             else train.loc[2, "class"])
    train.to_csv(out / "train.csv", index=False)  # the data changed, the answer key not
    assert Grader(out).competition not in (first.competition, second)
    prepare(out, limit_train=40, limit_test=30, seed=1)  # rebuilt: a damaged build is not declared done
    (tmp_path / "guess2.csv").write_text(sample.assign(**{"class": "1"}).to_csv(index=False))
    done = grade_into(tmp_path, out, tmp_path / "guess.csv", tmp_path / "guess2.csv")
    assert done.returncode == 1 and f"holds submissions of another competition ({first.competition})" in done.stderr
    assert len(ledger.read(tmp_path / "l.jsonl")) == 1


def test_an_older_versions_ledger_is_kept_when_its_files_still_score_the_same(tmp_path):
    """Entries an older version wrote name the competition by folder and sample alone: accepted when
    their kept files rescore as they did (the same answer key), refused after a re-prepare that changed it."""
    from competition.prepare.fashion import prepare

    out = prepare(tmp_path / "comp", limit_train=40, limit_test=30, seed=0)
    key = pd.read_csv(out.with_name("comp.grader") / "solution.csv", dtype=str)
    assert grade_into(tmp_path, out, make_submission(tmp_path, key, "a", correct=0.7, seed=1)).returncode == 0
    lines = [json.loads(line) for line in (tmp_path / "l.jsonl").read_text().splitlines()]
    legacy = Grader(out).legacy_competition
    (tmp_path / "l.jsonl").write_text("".join(json.dumps({**e, "competition": legacy}) + "\n" for e in lines))
    assert grade_into(tmp_path, out, make_submission(tmp_path, key, "b", correct=0.8, seed=2)).returncode == 0
    lines = [json.loads(line) for line in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    (tmp_path / "l.jsonl").write_text("".join(json.dumps({**e, "competition": legacy}) + "\n" for e in lines))
    prepare(out, limit_train=40, limit_test=30, seed=5)
    done = grade_into(tmp_path, out, make_submission(tmp_path, key, "c", correct=0.9, seed=3))
    assert done.returncode == 1 and f"holds submissions of another competition ({legacy})" in done.stderr


def test_after_the_reveal_every_file_graded_shows_its_private_score(fashion_small, key, tmp_path, capsys):
    paths = [make_submission(tmp_path, key, n, correct=c, seed=s) for n, c, s in [("a", 0.6, 1), ("b", 0.7, 2),
                                                                                   ("c", 0.8, 3)]]
    grader = Grader(fashion_small)
    options = {"ledger_path": tmp_path / "ledger.jsonl", "leaderboard_path": tmp_path / "leaderboard.md"}
    for path, reveal in zip(paths, (True, True, False)):  # a reveal, --reveal again, then a plain grade
        assert grade_files([path], grader, reveal=reveal, **options) == 0
        shown = capsys.readouterr().out
        assert f"private {expected_scores(path, key)[1]:.4f}" in shown and "hidden" not in shown, shown
    board = (tmp_path / "leaderboard.md").read_text()
    assert "| hidden |" not in board and "| unknown |" not in board
    assert len([e for e in ledger.read(tmp_path / "ledger.jsonl") if e["event"] == "reveal"]) == 3
    store = ledger.Ledger(tmp_path / "ledger.jsonl")
    gone = make_submission(tmp_path, key, "gone", correct=0.9, seed=4)
    grade_file(grader, store, gone)  # graded by another way than grade_files, then its bytes lost
    (tmp_path / "graded" / f"{hashlib.sha256(gone.read_bytes()).hexdigest()}.csv").unlink()
    gone.write_text("changed\n")
    with pytest.warns(InputWarning, match="graded bytes are gone"):
        assert store.reveal(grader.private_score) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.reveal(grader.private_score) == 0, "tried once: no second warning"
    lost = next(e for e in store.entries() if e.get("name") == "gone")
    assert "private: unknown" in report(lost, store.entries(), True)


def test_a_board_ranks_only_the_competitions_metric_and_says_what_it_left_out(fashion_small, key, tmp_path, capsys):
    options = {"ledger_path": tmp_path / "ledger.jsonl", "leaderboard_path": tmp_path / "leaderboard.md"}
    low, high = (make_submission(tmp_path, key, n, correct=c, seed=s, cv=c) for n, c, s in [("low", 0.5, 1),
                                                                                             ("high", 0.9, 2)])
    assert grade_files([low], Grader(fashion_small), **options) == 0
    with pytest.warns(InputWarning, match="--metric f1_macro overrides"):
        f1 = Grader(fashion_small, metric="f1_macro")
    capsys.readouterr()
    assert grade_files([high], f1, **options) == 0
    shown = capsys.readouterr().out
    assert "public f1_macro" in shown and "(rank 1 of 1)" in shown, "ranked among its metric's files only"
    board = (tmp_path / "leaderboard.md").read_text()
    ranked = [line for line in board.splitlines() if line.startswith("| 1")]
    assert len(ranked) == 1 and "[low]" in ranked[0] and "[high]" not in board, "the competition's metric decides"
    assert ("1 graded submission(s) scored by another metric (f1_macro, through `grade --metric`) are left out: "
            "only accuracy scores rank here.") in board
    accuracy_only = [e for e in ledger.read(tmp_path / "ledger.jsonl") if e.get("metric") != "f1_macro"]
    assert (tmp_path / "leaderboard.png").read_bytes() == chart_png(accuracy_only, "accuracy"), "the chart too"
