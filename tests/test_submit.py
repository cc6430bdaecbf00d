"""submit and ensemble: exact sample format, honest blends, refusal of incompatible members."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from competition import runs
from competition.cv import obtain
from competition.cv.ensemble import EnsembleError, ensemble, oof_log_loss
from competition.data.loader import load_competition
from competition.data.tables import read_csv
from competition.grade import ledger
from competition.grade.validate import SubmissionError, read_sample, validate_submission
from competition.submit import main as submit_main
from competition.submit import recipe_of, submit
from tests.helpers import check_provenance, make_competition, in_process


@pytest.fixture(scope="module")
def fashion(fashion_small):
    return load_competition(fashion_small)


@pytest.fixture(scope="module")
def member_runs(fashion, tmp_path_factory):
    """Three real runs on the same folds: logreg, rf and a shallow tree."""
    runs_dir = tmp_path_factory.mktemp("runs")
    made = [obtain.run_cv("logreg", fashion, n_folds=3, params={"max_iter": 100}, runs_dir=runs_dir, progress=False),
            obtain.run_cv("rf", fashion, n_folds=3, params={"n_estimators": 30}, runs_dir=runs_dir, progress=False),
            obtain.run_cv("dt", fashion, n_folds=3, params={"max_depth": 4}, runs_dir=runs_dir, progress=False)]
    return runs_dir, made


def test_submission_copies_the_sample_format(fashion, member_runs, tmp_path):
    path = submit(member_runs[1][0], fashion, out_dir=tmp_path)
    sample = (fashion.path / "test_sample.csv").read_bytes().split(b"\n")
    written = path.read_bytes().split(b"\n")
    assert written[0] == sample[0] and len(written) == len(sample)
    assert [line.split(b",")[0] for line in written] == [line.split(b",")[0] for line in sample]
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar["cv"]["accuracy_mean"] == member_runs[1][0].scores["accuracy_mean"]
    assert sidecar["data"]["fingerprint"] == fashion.fingerprint and sidecar["recipe"]["model"] == "logreg"
    check_provenance(sidecar)
    predicted = pd.read_csv(path)["class"].to_numpy()
    expected = fashion.classes[np.argmax(member_runs[1][0].test(), axis=1)]
    assert np.array_equal(predicted, expected)


def test_shuffled_zero_padded_ids_crlf_and_bom_survive(tmp_path):
    labels = {f"{i:05d}": ["shirt", "bag"][i % 2] for i in range(30)}
    test_ids = [f"{i:04d}" for i in np.random.default_rng(0).permutation(12)]
    root, _ = make_competition(tmp_path / "c", labels, test_ids, shape=(6, 6, 1), sample_label="bag")
    sample_bytes = ("\ufeffid,class\r\n" + "".join(f"{i},bag\r\n" for i in test_ids)).encode()
    (root / "test_sample.csv").write_bytes(sample_bytes)
    comp = load_competition(root, min_class_rows=3)
    run = obtain.run_cv("dt", comp, n_folds=3, runs_dir=tmp_path / "runs", progress=False)
    data = submit(run, comp, out_dir=tmp_path / "subs").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfid,class\r\n") and data.count(b"\r\n") == 13 and data.count(b"\n") == 13
    lines = data.decode("utf-8-sig").split("\r\n")[1:-1]
    assert [line.split(",")[0] for line in lines] == test_ids
    assert {line.split(",")[1] for line in lines} <= {"shirt", "bag"}


def test_a_sample_with_blank_lines_reads_alike_in_the_loader_the_validator_and_submit(tmp_path):
    labels = {f"{i:05d}": ["shirt", "bag"][i % 2] for i in range(12)}
    test_ids = ["03724", "00001", "00410"]
    root, _ = make_competition(tmp_path / "c", labels, test_ids, shape=(6, 6, 1), sample_label="bag")
    (root / "test_sample.csv").write_text("\n id , class \n" + "".join(f"{i},bag\n\n" for i in test_ids))
    comp = load_competition(root, min_class_rows=3)
    sample = read_sample(root / "test_sample.csv")
    assert comp.test_ids.tolist() == list(sample.ids) == test_ids and sample.header_line == " id , class "
    assert read_csv(root / "test_sample.csv") == {"id": test_ids, "class": ["bag"] * 3}
    run = obtain.run_cv("dt", comp, n_folds=3, runs_dir=tmp_path / "runs", progress=False)
    data = submit(run, comp, out_dir=tmp_path / "subs").read_bytes()
    assert data.decode().splitlines()[0] == " id , class " and len(data.decode().splitlines()) == 4
    assert list(validate_submission(data, sample, comp.classes.tolist())) == test_ids


def test_never_overwrites(fashion, member_runs, tmp_path):
    first = submit(member_runs[1][0], fashion, out_dir=tmp_path, name="mine")
    with pytest.raises(SubmissionError, match="already exists"):
        submit(member_runs[1][1], fashion, out_dir=tmp_path, name="mine")
    assert json.loads(first.with_suffix(".json").read_text())["recipe"]["model"] == "logreg"


def test_weights_never_worse_than_the_best_member(member_runs, tmp_path):
    runs_dir, members = member_runs
    run, report = ensemble(members, "weights", tmp_path)
    used = run.folds() >= 0
    y = run.labels()
    best = min(oof_log_loss(m.oof(), y, used) for m in members)
    assert oof_log_loss(run.oof(), y, used) <= best + 1e-9
    assert len(report["weights"]) == 3 and sum(report["weights"]) == pytest.approx(1)
    assert min(report["weights"]) >= 0
    check_provenance(run.config)


def test_every_method_saves_a_finished_run_that_can_be_submitted(fashion, member_runs, tmp_path):
    for method in ("mean", "vote", "weights", "stack"):
        run, report = ensemble(member_runs[1], method, tmp_path / "runs")
        assert run.finished and run.config["model"] == f"ensemble-{method}"
        assert np.allclose(run.test().sum(axis=1), 1) and np.allclose(run.oof()[run.folds() >= 0].sum(axis=1), 1)
        assert len(report["agreement"]) == 3 and report["agreement"][0][0] == 1
        assert submit(run, fashion, out_dir=tmp_path / "subs").is_file()
    vote, _ = ensemble(member_runs[1], "vote", tmp_path / "runs")
    tops = np.stack([np.argmax(m.oof(), axis=1) for m in member_runs[1]])
    unanimous = (tops == tops[0]).all(axis=0)
    assert (np.argmax(vote.oof(), axis=1)[unanimous] == tops[0][unanimous]).all()


def random_member(run: runs.Run, target, seed=0):
    """A copy of ``run`` whose probabilities are random: a member that knows nothing."""
    shutil.copytree(run.path, target)
    rng = np.random.default_rng(seed)
    oof = run.oof()
    noise = rng.dirichlet(np.ones(oof.shape[1]), size=len(oof))
    noise[np.isnan(oof[:, 0])] = np.nan
    np.save(target / runs.OOF, noise)
    np.save(target / runs.TEST, rng.dirichlet(np.ones(oof.shape[1]), size=len(run.test())))
    return runs.load_run(target)


def test_stacking_is_honest_about_a_random_member(member_runs, tmp_path):
    members = member_runs[1][:2]
    without, _ = ensemble(members, "stack", tmp_path / "a")
    noise = random_member(members[0], tmp_path / "noise")
    with_noise, _ = ensemble(members + [noise], "stack", tmp_path / "b")
    assert with_noise.scores["oof_accuracy"] <= without.scores["oof_accuracy"]
    assert with_noise.scores["oof_log_loss"] >= without.scores["oof_log_loss"]


def test_members_with_other_folds_are_refused(fashion, member_runs, tmp_path):
    other = obtain.run_cv("dt", fashion, n_folds=3, seed=1, params={"max_depth": 4}, runs_dir=tmp_path, progress=False)
    with pytest.raises(EnsembleError, match=f"{other.path}: its folds or data differ .*seed: run has 1, now 87"):
        ensemble([member_runs[1][0], other], "mean", tmp_path)


def test_cli_reuses_a_matching_run_and_prints_the_summary(fashion_small, tmp_path):
    command = ["--model", "dt", "--data", fashion_small, "--folds", "3", "--param", "max_depth=6"]
    first = in_process(submit_main, *command, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "cross-validating first" in first.stdout and "CV accuracy 0." in first.stdout
    assert "predicted classes:" in first.stdout
    second = in_process(submit_main, *command, cwd=tmp_path)
    (run,) = runs.list_runs(tmp_path / "runs")
    assert f"reusing {run.path.relative_to(tmp_path)}" in second.stdout
    assert len(list((tmp_path / "submissions").glob("*.csv"))) == 2
    refit = in_process(submit_main, *command, "--refit", cwd=tmp_path)
    assert refit.returncode == 0, refit.stderr
    assert f"3 of 3 folds copied from {run.path.relative_to(tmp_path)}" in refit.stdout
    assert "cross-validating first" not in refit.stdout, "only the refit trains: nothing is cross-validated"
    obtain.run_cv("logreg", load_competition(fashion_small), n_folds=3, params={"max_iter": 50},
                      runs_dir=tmp_path / "runs", progress=False)
    blend = in_process(submit_main, "--ensemble", run.path, "logreg", "--method", "weights", "--data", fashion_small,
                     cwd=tmp_path)
    assert blend.returncode == 0, blend.stderr
    assert "pairwise agreement" in blend.stdout and "ensemble OOF accuracy" in blend.stdout


@pytest.mark.parametrize("name", ["../escape", "/tmp/abs", "a/b", ".hidden", "", "x.csv"])
def test_a_name_can_never_write_outside_the_submissions_folder(fashion_small, member_runs, tmp_path, name):
    done = in_process(submit_main, "--run", member_runs[1][0].path, "--data", fashion_small, "--name", name,
                    cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.startswith(f"error: --name {name!r}: use 1-100 letters")
    assert not list(tmp_path.rglob("*.csv")) and not list(tmp_path.rglob("*.json"))


def test_an_existing_sidecar_is_never_replaced(fashion, member_runs, tmp_path):
    (tmp_path / "mine.json").write_text('{"my": "notes"}')
    with pytest.raises(SubmissionError, match="mine.csv or .json already exists"):
        submit(member_runs[1][0], fashion, out_dir=tmp_path, name="mine")
    assert (tmp_path / "mine.json").read_text() == '{"my": "notes"}' and not (tmp_path / "mine.csv").exists()
    (tmp_path / "logreg-x.json").write_text("{}")
    auto = submit(member_runs[1][0], fashion, out_dir=tmp_path, name=None)
    assert (tmp_path / "mine.json").read_text() == '{"my": "notes"}' and auto.with_suffix(".json").is_file()


def test_a_run_made_on_other_data_is_refused(fashion_copy, tmp_path):
    comp = load_competition(fashion_copy)
    run = obtain.run_cv("dt", comp, n_folds=3, params={"max_depth": 3}, runs_dir=tmp_path / "runs", progress=False)
    image = fashion_copy / "images" / "test" / f"{comp.test_ids[0]}.png"
    pixels = np.asarray(Image.open(image))
    Image.fromarray(255 - pixels).save(image)  # one test image changed after the run
    done = in_process(submit_main, "--run", run.path, "--data", fashion_copy, cwd=tmp_path)
    assert done.returncode == 1 and done.stderr == (f"error: {run.path}: made on other data than {fashion_copy} "
                                                    "(data fingerprints differ)\n")
    assert not (tmp_path / "submissions").exists()


def test_submit_grade_records_the_file_and_redraws_the_leaderboard(fashion_small, member_runs, tmp_path):
    done = in_process(submit_main, "--run", member_runs[1][0].path, "--data", fashion_small, "--name", "graded",
                    "--grade", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (entry,) = ledger.read(tmp_path / "submissions" / "ledger.jsonl")
    assert entry["status"] == "ok" and entry["name"] == "graded" and entry["file"] == "submissions/graded.csv"
    assert entry["cv"]["accuracy_mean"] == member_runs[1][0].scores["accuracy_mean"]
    assert "[graded](submissions/graded.csv)" in (tmp_path / "leaderboard.md").read_text()
    assert f"public accuracy {entry['public']:.4f} (rank 1 of 1)" in done.stdout


def test_mean_is_the_average_of_the_members(member_runs, tmp_path):
    members = member_runs[1]
    run, _ = ensemble(members, "mean", tmp_path)
    assert np.allclose(run.test(), np.mean([m.test() for m in members], axis=0))
    assert np.allclose(run.oof(), np.mean([m.oof() for m in members], axis=0), equal_nan=True)


def test_a_run_blended_with_itself_is_refused(member_runs, tmp_path):
    first = member_runs[1][0]
    with pytest.raises(EnsembleError, match=f"{first.path}: given twice \\(members 1 and 3\\)"):
        ensemble([first, member_runs[1][1], runs.load_run(first.path)], "mean", tmp_path)


def test_ensemble_reports_log_loss_as_the_runs_score_it(member_runs, tmp_path):
    _, report = ensemble(member_runs[1], "mean", tmp_path)
    for member, reported in zip(member_runs[1], report["members"]):
        assert reported["oof_log_loss"] == pytest.approx(member.scores["oof_log_loss"])


def test_an_ensembles_recipe_names_what_each_member_changed(member_runs, tmp_path):
    from competition.grade.leaderboard import recipe_text

    run, _ = ensemble(member_runs[1], "mean", tmp_path)
    assert recipe_text({"recipe": recipe_of(run)}) == \
        "ensemble-mean of logreg (max_iter=100) + rf (n_estimators=30) + dt (max_depth=4)"


def tampered_copy(run: runs.Run, target, **changes) -> runs.Run:
    """A copy of ``run`` with arrays replaced (``oof=..., test=...``) or config/scores keys changed."""
    shutil.copytree(run.path, target)
    for name, value in changes.items():
        if name in ("oof", "test"):
            np.save(target / f"{name}.npy", value)
        else:
            file, key = name.split("__")
            path = target / f"{file}.json"
            path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))
    return runs.load_run(target)


def test_runs_edited_by_hand_are_refused_not_submitted(fashion_small, fashion, member_runs, tmp_path):
    run = member_runs[1][2]
    fives = np.full_like(run.test(), 5.0)
    cases = {
        "not probabilities": (tampered_copy(run, tmp_path / "a", test=fives), "test.npy: holds values that are not"),
        "folds": (tampered_copy(run, tmp_path / "b", config__folds=30), "folds.npy: holds folds 0..2, the run's config "
                                                                         "says 30 folds"),
        "scores": (tampered_copy(run, tmp_path / "c", scores__oof_accuracy=0.99), "says OOF accuracy 0.9900, its "
                                                                                  "arrays give"),
    }
    for name, (bad, words) in cases.items():
        done = in_process(submit_main, "--run", bad.path, "--data", fashion_small, cwd=tmp_path)
        assert done.returncode == 1 and words in done.stderr, (name, done.stderr)
    copy = tampered_copy(run, tmp_path / "copy")
    with pytest.raises(EnsembleError, match="the same predictions as .* \\(a copy of one run\\?\\)"):
        ensemble([run, copy], "mean", tmp_path / "runs")


def test_a_name_clash_is_found_before_any_cross_validation(fashion_small, member_runs, tmp_path):
    assert in_process(submit_main, "--run", member_runs[1][0].path, "--data", fashion_small, "--name", "taken",
                    cwd=tmp_path).returncode == 0
    done = in_process(submit_main, "--model", "rf", "--data", fashion_small, "--name", "taken", cwd=tmp_path)
    assert done.returncode == 1 and "taken.csv or .json already exists" in done.stderr
    assert not (tmp_path / "runs").exists(), "nothing was cross-validated"


def test_submit_resumes_its_own_interrupted_run(fashion_small, tmp_path):
    args = ["--model", "dt", "--param", "max_depth=3", "--folds", "3", "--data", fashion_small]
    assert in_process(submit_main, *args, cwd=tmp_path).returncode == 0
    (run,) = runs.list_runs(tmp_path / "runs")
    for name in (runs.SCORES, runs.OOF, runs.TEST, "folds/fold-2.json"):
        (run.path / name).unlink()  # as if interrupted in its last fold
    again = in_process(submit_main, *args, cwd=tmp_path)
    assert again.returncode == 0 and f"resuming {run.path.relative_to(tmp_path)} (2 of 3 folds done)" in again.stdout
    assert [r.path for r in runs.list_runs(tmp_path / "runs")] == [run.path] and runs.load_run(run.path).finished


def test_submit_finds_or_makes_its_run_in_one_pass(tiny, tmp_path, monkeypatch, capsys):
    """One ``submit --model``: one plan, one listing of the runs folder, the OOF array read once,
    whether it cross-validates first or reuses the run it made."""
    from competition import submit as command
    from competition.runs import folder

    listings, plans, oof_reads = [], [], []
    real_list, real_plan, real_load = folder.list_runs, obtain.plan, np.load
    monkeypatch.setattr(folder, "list_runs", lambda *a, **k: listings.append(a) or real_list(*a, **k))
    monkeypatch.setattr(obtain, "plan", lambda *a, **k: plans.append(a) or real_plan(*a, **k))
    monkeypatch.setattr(np, "load", lambda path, *a, **k: (oof_reads.append(path) if str(path).endswith(runs.OOF)
                                                           else None) or real_load(path, *a, **k))
    args = ["--model", "dt", "--data", str(tiny), "--folds", "2", "--runs-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "subs")]
    for said in ("cross-validating first", "reusing"):
        listings.clear(), plans.clear(), oof_reads.clear()
        assert command.main(args) == 0
        assert said in capsys.readouterr().out
        assert (len(listings), len(plans), len(oof_reads)) == (1, 1, 1)
    assert len(runs.list_runs(tmp_path / "runs")) == 1


def test_submit_starts_no_more_workers_than_the_run_has_fits(tiny, tmp_path, monkeypatch, capsys):
    """``submit --workers`` follows ``workers.bounded`` as cv and tune do (2 folds: 2 fits), and starts
    no cluster at all for a run it reuses."""
    from contextlib import contextmanager

    from competition import submit as command
    from competition.cv import cluster

    started = []

    @contextmanager
    def executor(workers, scheduler):
        started.append(workers)
        yield None

    monkeypatch.setattr(cluster, "executor", executor)
    args = ["--model", "dt", "--data", str(tiny), "--folds", "2", "--runs-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "subs"), "--workers", "1000"]
    assert command.main(args) == 0
    assert started == [min(2, len(__import__("os").sched_getaffinity(0)))]
    assert "--workers 1000: starting" in capsys.readouterr().err
    assert command.main(args) == 0 and len(started) == 1


def test_make_submit_hands_budget_to_submit_as_its_time_budget_and_nothing_without_it():
    """``make submit BUDGET=25`` is ``submit ... --time-budget 25``; plain ``make submit`` keeps the
    model's own schedule (``make -n`` prints the commands without running them)."""
    def planned(*variables: str) -> str:
        done = subprocess.run(["make", "-n", "submit", *variables], cwd=Path(__file__).resolve().parents[1],
                              capture_output=True, text=True, timeout=60)
        return next(line for line in done.stdout.splitlines() if "-m competition.submit" in line)

    assert planned("BUDGET=25").endswith("--grade --time-budget 25")
    assert "--time-budget" not in planned() and planned().rstrip().endswith("--grade")
