"""tune: Optuna studies on the competition's folds that continue, prune, keep --param fixed, and
leave a best run that submits like any other."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import numpy as np
import pytest

from competition import runs, tune
from competition.cv import crossval, obtain
from competition.cv.folds import make_folds
from competition.data.loader import load_competition
from competition.models import MODELS, make_model, public_params
from competition.models.spaces import Choice
from competition.runs import matching
from tests.helpers import run_cli

optuna = pytest.importorskip("optuna")  # the `tune` extra (competition.tune imports it only when it tunes)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fashion(fashion_small):
    return load_competition(fashion_small)


def only_study(runs_dir):
    (folder,) = (runs_dir / tune.STUDIES).iterdir()
    return folder


def load(path):
    return optuna.load_study(study_name=path.parent.name, storage=tune.open_storage(path))


def test_a_study_continues_when_run_again_and_its_best_run_submits(fashion_small, tmp_path, monkeypatch, capsys):
    """The first session and the submission run ``main`` in this process; the second session is a
    process of its own, so that it continues from the files alone."""
    from competition.submit import main as submit_main

    monkeypatch.chdir(tmp_path)
    args = ("competition.tune", "--model", "lgbm", "--param", "n_estimators=5", "--param", "n_jobs=1",
            "--data", str(fashion_small),
            "--folds", "3", "--trials", "2", "--runs-dir", "runs")
    assert tune.main(list(args[1:])) == 0
    first = capsys.readouterr()
    folder = only_study(tmp_path / "runs")
    assert f"new study {folder.relative_to(tmp_path)}: 0 trials" in first.out
    assert f"study {folder.relative_to(tmp_path)}: 2 trials (0 pruned), best accuracy 0." in first.out
    second = run_cli(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert only_study(tmp_path / "runs") == folder, "the same command continues the same study"
    assert f"continuing study {folder.relative_to(tmp_path)}: 2 trials" in second.stdout
    assert f"study {folder.relative_to(tmp_path)}: 4 trials (" in second.stdout
    study = load(folder / "study.db")
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert all(t.user_attrs["params"]["n_estimators"] == 5 and "n_estimators" not in t.params for t in study.trials)
    assert study.trials[2].params != study.trials[1].params, "the second session draws new points, not the first's"
    defaults = public_params(make_model("lgbm"))
    assert {k: defaults[k] for k in study.trials[0].params} == study.trials[0].params, "trial 0: the defaults"
    assert (folder / "history.png").read_bytes()[:8] == PNG and (folder / "importances.png").read_bytes()[:8] == PNG
    assert "top trials:" in second.stdout and "learning_rate" in second.stdout
    # the best run: an ordinary run folder that says where it came from, and submits
    best = tune.best_trial(study)
    run_dir = second.stdout.split("best run (")[1].split("-> ")[1].split("\n")[0]
    run = runs.load_run(tmp_path / run_dir)
    assert run.finished and run.config["origin"]["study"] == str((folder / "study.db").resolve())
    assert run.config["origin"]["trial"] == best.number and run.scores["accuracy_mean"] == best.value
    assert best.user_attrs["log_loss"] == run.scores["log_loss_mean"], "the tie-breaker is the run's log loss"
    assert f"submit it: python -m competition.submit --run {run_dir} --data {fashion_small}" in second.stdout
    assert submit_main(["--run", run_dir, "--data", str(fashion_small), "--out", "subs"]) == 0
    (csv,) = (tmp_path / "subs").glob("*.csv")
    assert len(csv.read_text().splitlines()) == 1 + len(load_competition(fashion_small).test_ids)


def test_the_best_run_saved_from_memory_is_the_run_cv_would_make(fashion, tmp_path):
    tuned = tune.tune("dt", fashion, n_folds=3, n_trials=3, runs_dir=tmp_path, progress=False)
    assert tuned.how == "saved" and tuned.run.config["origin"]["trial"] == tuned.best.number
    fresh = obtain.run_cv("dt", fashion, n_folds=3, params=tuned.best.user_attrs["params"], runs_dir=tmp_path / "fresh",
                      progress=False)
    assert matching.differences(fresh.config, tuned.run.config) == []
    assert np.array_equal(fresh.oof(), tuned.run.oof()) and np.array_equal(fresh.test(), tuned.run.test())
    assert [f["accuracy"] for f in fresh.scores["folds"]] == [f["accuracy"] for f in tuned.run.scores["folds"]]
    runs.verify(tuned.run)


def test_a_trial_whose_recipe_a_finished_run_holds_takes_its_scores_and_trains_nothing(fashion, tmp_path,
                                                                                         monkeypatch):
    defaults = obtain.run_cv("dt", fashion, n_folds=3, runs_dir=tmp_path, progress=False)
    real, trained = crossval.cross_validate, []
    monkeypatch.setattr(crossval, "cross_validate", lambda *a, **k: trained.append(1) or real(*a, **k))
    space = {"max_depth": Choice((None,))}  # every trial the defaults (a full tree), as the run above
    tuned = tune.tune("dt", fashion, n_folds=3, n_trials=2, runs_dir=tmp_path, space=space, progress=False)
    assert trained == [], "both trials took the finished run's scores"
    for trial in tuned.study.trials:
        assert trial.user_attrs["run"] == str(defaults.path) and trial.value == defaults.scores["accuracy_mean"]
        assert trial.user_attrs["log_loss"] == defaults.scores["log_loss_mean"]
        assert list(trial.intermediate_values.values()) == pytest.approx(
            [np.mean([f["accuracy"] for f in defaults.scores["folds"][:k]]) for k in (1, 2, 3)])
    assert tuned.how == "reused, an earlier run of the same recipe" and tuned.run.path == defaults.path
    assert len(runs.list_runs(tmp_path)) == 1


def test_a_continued_study_with_the_same_best_reuses_its_run(fashion, tmp_path):
    space = {"max_depth": Choice((6,))}  # every trial the same tree: ties go to the earlier trial
    first = tune.tune("dt", fashion, n_folds=3, n_trials=1, runs_dir=tmp_path, space=space, progress=False)
    second = tune.tune("dt", fashion, n_folds=3, n_trials=1, runs_dir=tmp_path, space=space, progress=False)
    assert len(second.study.trials) == 2 and second.best.number == 0
    assert second.how == "reused, from this study" and second.run.path == first.run.path
    assert len(runs.list_runs(tmp_path)) == 1
    assert first.skipped == second.skipped == ["parameter importances: need 2 finished trials whose parameters differ"]
    assert not (first.path.parent / tune.IMPORTANCES).exists() and (first.path.parent / tune.HISTORY).exists()


def test_a_hopeless_trial_is_pruned_after_its_first_fold(fashion, tmp_path):
    space = {"max_depth": Choice((None, 1))}  # trial 0 is the default (None: a full tree); a stump is hopeless
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1)
    tuned = tune.tune("dt", fashion, n_folds=3, n_trials=6, runs_dir=tmp_path, space=space, pruner=pruner,
                      progress=False)
    trials = tuned.study.trials
    assert trials[0].params == {"max_depth": None} and trials[0].state.name == "COMPLETE"
    stumps = [t for t in trials if t.params["max_depth"] == 1]
    assert stumps, "the seeded sampler draws a stump among 5 trials"
    assert all(t.state.name == "PRUNED" and list(t.intermediate_values) == [0] for t in stumps)
    assert all(t.state.name == "COMPLETE" and len(t.intermediate_values) == 3 for t in trials if t not in stumps)
    assert f"({len(stumps)} pruned)" in tune.describe_study(tuned.study, tuned.path)


def test_param_is_fixed_in_every_trial_and_makes_another_study(fashion, tmp_path):
    fixed = tune.tune("dt", fashion, n_folds=3, n_trials=3, fixed={"criterion": "entropy"}, runs_dir=tmp_path,
                      progress=False)
    free = tune.tune("dt", fashion, n_folds=3, n_trials=1, runs_dir=tmp_path, progress=False)
    assert fixed.path.parent != free.path.parent and fixed.path.parent.name.startswith(free.path.parent.name + "-p")
    assert all(t.user_attrs["params"]["criterion"] == "entropy" and "criterion" not in t.params
               for t in fixed.study.trials)
    assert "criterion" in free.study.trials[0].params
    assert fixed.run.config["params"]["criterion"] == "entropy"


def test_parallel_trials_keep_a_journal_that_a_later_run_continues(fashion, tmp_path):
    parallel = tune.tune("dt", fashion, n_folds=3, n_trials=4, jobs=2, runs_dir=tmp_path, progress=False)
    assert parallel.path.name == "study.journal" and not (parallel.path.parent / "study.db").exists()
    again = tune.tune("dt", fashion, n_folds=3, n_trials=1, runs_dir=tmp_path, progress=False)
    assert again.path == parallel.path and len(again.study.trials) == 5


def test_ctrl_c_keeps_the_finished_trials_and_says_how_to_continue(fashion, tmp_path, monkeypatch, capsys):
    real, calls = crossval.fit_fold, []

    def interrupted(*args):
        calls.append(args[-1])
        if len(calls) == 5:  # trial 1, fold 1
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(crossval, "fit_fold", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune.tune("dt", fashion, n_folds=3, n_trials=3, runs_dir=tmp_path, progress=False)
    assert "the same command continues the study" in capsys.readouterr().err
    monkeypatch.setattr(crossval, "fit_fold", real)
    again = tune.tune("dt", fashion, n_folds=3, n_trials=1, runs_dir=tmp_path, progress=False)
    assert [t.state.name for t in again.study.trials] == ["COMPLETE", "FAIL", "COMPLETE"]


def test_log_loss_breaks_a_tie_in_accuracy_and_then_the_earlier_trial_wins():
    study = optuna.create_study(direction="maximize")
    for value, loss in [(0.80, 0.50), (0.90, 0.60), (0.90, 0.40), (0.90, 0.40), (0.85, 0.10)]:
        study.add_trial(optuna.trial.create_trial(value=value, user_attrs={"log_loss": loss}))
    assert tune.best_trial(study).number == 2


def test_a_pruned_trial_cancels_its_folds_not_yet_started(fashion):
    """On an executor all folds are submitted at once: stopping after the first must drop the rest."""
    from concurrent.futures import ThreadPoolExecutor

    folds = make_folds(fashion.y_train, 6, seed=0)
    started = []

    def fit(*args):
        started.append(args[-1])
        return crossval.fit_fold(*args)

    def stop(fold):
        raise optuna.TrialPruned

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, *args):
            return super().submit(fit, *args)

    with Counting(1) as pool, pytest.raises(optuna.TrialPruned):
        crossval.cross_validate(make_model("dt", max_depth=3), fashion.x_train, fashion.y_train, fashion.x_test, folds,
                          executor=pool, on_fold=stop)
    assert len(started) <= 2, f"folds {started} ran after the trial stopped"


@pytest.mark.parametrize("model", [name for name, spec in MODELS.items() if spec.space])
def test_every_space_draws_parameters_the_model_takes_and_starts_at_the_defaults(model):
    space = MODELS[model].space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        make_model(model, **{name: dim.suggest(trial, name) for name, dim in space.items()})
    start = tune.default_trial(model, {}, space)
    drawn = {name: dim.suggest(optuna.trial.FixedTrial(start), name) for name, dim in space.items()
             if any(key.startswith(name) for key in start)}
    defaults = public_params(make_model(model))
    assert drawn and all(defaults[name] == (list(v) if isinstance(v, tuple) else v) for name, v in drawn.items())
    if model not in ("dt", "rf"):  # their defaults None / "sqrt" are no value of a numeric range
        assert set(drawn) == set(space)


def test_a_study_of_other_settings_in_the_same_file_is_refused(tmp_path):
    path = tmp_path / "study.db"
    tune.open_study(path, "s", {"model": "dt", "folds": 3})
    with pytest.raises(tune.StudyError, match=r"made for another recipe or data \(folds: study has 3, now 5\)"):
        tune.open_study(path, "s", {"model": "dt", "folds": 5})


@pytest.fixture
def made_study(fashion, tmp_path):
    """A one-trial dt study and the command line that continues it."""
    tuned = tune.tune("dt", fashion, n_folds=3, n_trials=1, runs_dir=tmp_path / "runs", progress=False)
    argv = ["--model", "dt", "--data", str(fashion.path), "--folds", "3", "--trials", "1",
            "--runs-dir", str(tmp_path / "runs")]
    return tuned.path, argv


def one_error_line(capsys, argv) -> str:
    try:
        code = tune.main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_a_study_file_that_is_no_study_is_refused_and_left_untouched(made_study, capsys):
    path, argv = made_study
    path.write_bytes(b"my notes, not a database")
    assert "study.db: not a readable study: file is not a database" in one_error_line(capsys, argv)
    assert path.read_bytes() == b"my notes, not a database"
    path.unlink()
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE notes (text)")
    before = path.read_bytes()
    assert "study.db: an SQLite file, but not an Optuna study; it is left untouched" in one_error_line(capsys, argv)
    assert path.read_bytes() == before


def test_a_locked_study_is_refused_in_one_line(made_study, capsys, monkeypatch):
    path, argv = made_study
    monkeypatch.setattr(tune, "LOCK_WAIT", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert "study.db: it is locked by another process" in one_error_line(capsys, argv)
    finally:
        holder.close()


@pytest.mark.parametrize("change,words", [
    ("UPDATE trial_values SET value = 'abc'", "trial 0 is finished with score 'abc', not a number"),
    ("UPDATE trial_values SET value = 1e999", "trial 0 is finished with score inf, not a number"),
    ("UPDATE trial_values SET value = NULL", "holds a damaged value (AssertionError: a value is missing)"),
    ("UPDATE trial_params SET param_value = 'abc'", "holds a damaged value (ValueError: invalid literal for int()"),
    ("UPDATE trial_user_attributes SET value_json = '\"x\"' WHERE key = 'log_loss'", "trial 0 holds log loss 'x'"),
    ("UPDATE trial_user_attributes SET value_json = 'null' WHERE key = 'params'",
     "trial 0 holds no parameters (params None)"),
    ("UPDATE trial_intermediate_values SET intermediate_value = 'abc'",
     "trial 0 holds a reported score that is not a number"),
    ("UPDATE trials SET state = 'DONE'", "holds a damaged value (LookupError: 'DONE' is not among"),
])
def test_a_study_holding_a_value_that_is_no_number_is_refused_and_left_untouched(made_study, capsys, change, words):
    path, argv = made_study
    with closing(sqlite3.connect(path)) as study, study:
        study.execute(change)
    before = path.read_bytes()
    err = one_error_line(capsys, argv)
    assert err.startswith(f"error: {path}: {words}") and err.endswith("move it away to start the study anew\n"), err
    assert path.read_bytes() == before


def test_a_damaged_journal_is_refused(made_study, capsys):
    path, argv = made_study
    journal = path.with_name("study.journal")
    path.unlink()
    journal.write_text('{"op_code": 0, "worker_id": "w"}\nrubbish\n')
    assert "study.journal: line 2 is not an Optuna journal entry" in one_error_line(capsys, argv)


@pytest.mark.parametrize("args,message", [
    (["--model", "nope"], "argument --model: invalid choice: 'nope'"),
    (["--model", "cnn-blog"], "model cnn-blog has no search space (it is kept as published); tune cnn instead"),
    (["--model", "dt", "--trials", "0"], "argument --trials: must be at least 1, got 0"),
    (["--model", "dt", "--timeout", "-1"], "argument --timeout: must be at least 1, got -1"),
    (["--model", "dt", "--param", "depth=3"], "unknown parameter 'depth' for this model"),
    (["--model", "logreg", "--param", "C=1"],
     "--param fixes every parameter logreg searches (C): nothing left to tune"),
    (["--model", "dt", "--jobs", "2"], "--jobs runs trials side by side on a cluster: add --workers N or --scheduler"),
])
def test_bad_input_is_one_line_and_exit_code_1(fashion_small, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.delenv("COMPETITION_SCHEDULER", raising=False)
    assert message in one_error_line(capsys, [*args, "--data", str(fashion_small), "--runs-dir", str(tmp_path)])
    assert not (tmp_path / tune.STUDIES).exists(), "nothing written"


def test_bad_input_from_the_command_line(fashion_small, tmp_path):
    done = run_cli("competition.tune", "--model", "mlp-blog", "--data", str(fashion_small), cwd=tmp_path)
    assert done.returncode == 1 and done.stderr == ("error: model mlp-blog has no search space (it is kept as "
                                                    "published); tune mlp instead\n")
    assert not (tmp_path / "runs").exists()
