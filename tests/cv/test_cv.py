"""The CV harness: every model through identical folds, consistent run files, honest resume."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from competition import cli, runs
from competition.cv import crossval, obtain
from competition.cv.folds import make_folds
from competition.data.loader import load_competition
from competition.errors import InputWarning
from competition.models import MODELS, make_model, reseeded
from competition.runs import matching
from competition.runs.__main__ import main as runs_main
from tests.helpers import QUICK, check_provenance, make_competition, run_cli


def test_quick_settings_cover_every_model():
    assert set(QUICK) == set(MODELS)


@pytest.fixture(scope="module")
def fashion(fashion_small):
    return load_competition(fashion_small)


def check_run_files(run: runs.Run, comp, n_folds: int):
    oof, test, folds = run.oof(), run.test(), run.folds()
    used = folds >= 0
    assert oof.shape == (len(comp.y_train), len(comp.classes)) and test.shape == (len(comp.test_ids), len(comp.classes))
    assert np.allclose(oof[used].sum(axis=1), 1) and np.allclose(test.sum(axis=1), 1)
    assert np.isnan(oof[~used]).all()
    y = np.searchsorted(comp.classes, comp.y_train)
    recomputed = np.mean(np.argmax(oof[used], axis=1) == y[used])
    assert recomputed == pytest.approx(run.scores["oof_accuracy"])
    per_fold = [np.mean(np.argmax(oof[folds == k], axis=1) == y[folds == k]) for k in range(n_folds)]
    assert per_fold == pytest.approx([f["accuracy"] for f in run.scores["folds"]])
    assert run.scores["accuracy_mean"] == pytest.approx(np.mean(per_fold))
    config = run.config
    assert config["data"]["fingerprint"] == comp.fingerprint and config["folds"] == n_folds
    assert {"git_commit", "versions", "host", "params", "seed"} <= set(config)
    check_provenance(config)


@pytest.mark.parametrize("model", list(QUICK))
def test_every_model_runs_through_the_harness(model, fashion, tmp_path):
    """Two folds: a network's cost is its fits (each traces Keras' steps anew), and two folds
    show the per-fold bookkeeping as well as three."""
    run = obtain.run_cv(model, fashion, n_folds=2, params=QUICK[model], runs_dir=tmp_path, progress=False)
    check_run_files(run, fashion, 2)
    if model != "cnn-blog":  # its BatchNorm (momentum 0.99) needs far more than a few dozen steps
        assert run.scores["oof_accuracy"] > 0.2, "better than chance (0.1) on 300 Fashion-MNIST rows"
    histories = json.loads((run.path / runs.HISTORIES).read_text())
    if model in ("xgb", "lgbm") or "mlp" in model or "cnn" in model:
        held_out = make_model(model, **QUICK[model]).get_params()["validation_fraction"]
        curve = "val_loss" if held_out else "loss"  # no rows held out (the cnns' fixed schedules): nothing to stop on
        assert all(h and len(h[curve]) >= 1 for h in histories.values())
        assert all(f["best_iteration"] >= 1 for f in run.scores["folds"])


# One recipe per network build: cnn-quick is the cnn's network on another schedule and mlp-blog an
# MLP flattening its input as mlp does; both run through the harness above.
@pytest.mark.parametrize("model", [model for model in QUICK if model not in ("cnn-quick", "mlp-blog")])
def test_string_labels_and_small_rgb_images(model, tmp_path):
    labels = {f"r{i:02d}": ["cat", "dog", "bird"][i % 3] for i in range(60)}
    root, _ = make_competition(tmp_path / "rgb", labels, [f"t{i}" for i in range(7)], shape=(8, 8, 3))
    comp = load_competition(root)
    run = obtain.run_cv(model, comp, n_folds=2, params=QUICK[model], runs_dir=tmp_path / "runs", progress=False)
    check_run_files(run, comp, 2)
    assert run.config["data"]["classes"] == ["bird", "cat", "dog"]


def test_two_models_get_identical_folds(fashion, tmp_path):
    a = obtain.run_cv("dt", fashion, n_folds=4, seed=5, runs_dir=tmp_path, progress=False)
    b = obtain.run_cv("logreg", fashion, n_folds=4, seed=5, params={"max_iter": 20}, runs_dir=tmp_path, progress=False)
    assert np.array_equal(a.folds(), b.folds())
    assert not np.array_equal(a.folds(), make_folds(fashion.y_train, 4, seed=6))
    # stratified: every fold holds each class in (nearly) the same share
    counts = np.array([np.bincount(fashion.y_train[a.folds() == k], minlength=10) for k in range(4)])
    assert (counts.max(axis=0) - counts.min(axis=0)).max() <= 1


def test_limit_takes_a_stratified_sample_and_records_it(fashion, tmp_path):
    run = obtain.run_cv("dt", fashion, n_folds=3, limit=120, runs_dir=tmp_path, progress=False)
    folds = run.folds()
    assert (folds >= 0).sum() == 120 and run.config["limit"] == 120 and run.scores["oof_rows"] == 120
    expected = 120 * np.bincount(fashion.y_train) / len(fashion.y_train)  # stratified: the same class shares
    assert np.abs(np.bincount(fashion.y_train[folds >= 0]) - expected).max() <= 1
    check_run_files(run, fashion, 3)


def test_resume_after_interruption_equals_an_uninterrupted_run(fashion, tmp_path, monkeypatch):
    whole = obtain.run_cv("rf", fashion, n_folds=3, params={"n_estimators": 10}, runs_dir=tmp_path / "a",
                          progress=False)
    real_fit_fold = crossval.fit_fold

    def interrupted(*args):
        if args[-1] == 2:  # the fold number
            raise KeyboardInterrupt
        return real_fit_fold(*args)

    monkeypatch.setattr(crossval, "fit_fold", interrupted)
    with pytest.raises(KeyboardInterrupt):
        obtain.run_cv("rf", fashion, n_folds=3, params={"n_estimators": 10}, runs_dir=tmp_path / "b", progress=False)
    (partial,) = runs.list_runs(tmp_path / "b")
    assert not partial.finished and partial.done_folds == [0, 1]
    monkeypatch.setattr(crossval, "fit_fold", real_fit_fold)
    resumed = obtain.run_cv("rf", fashion, n_folds=3, params={"n_estimators": 10}, resume=partial.path, progress=False)
    assert resumed.path == partial.path and resumed.finished
    assert np.array_equal(resumed.oof(), whole.oof()) and np.array_equal(resumed.test(), whole.test())
    assert resumed.scores["oof_accuracy"] == whole.scores["oof_accuracy"]


def test_resume_refuses_other_params_or_changed_data(fashion_copy, tmp_path):
    comp = load_competition(fashion_copy)
    run = obtain.run_cv("dt", comp, n_folds=3, runs_dir=tmp_path, progress=False)
    with pytest.raises(obtain.RunMismatchError, match="parameter max_depth: run has None, now 3$"):
        obtain.run_cv("dt", comp, n_folds=3, params={"max_depth": 3}, resume=run.path, progress=False)
    csv = fashion_copy / "train.csv"
    lines = csv.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",3" if not lines[1].endswith(",3") else lines[1][:-1] + "4"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(obtain.RunMismatchError, match="data fingerprint"):
        obtain.run_cv("dt", load_competition(fashion_copy), n_folds=3, resume=run.path, progress=False)


def test_align_proba_fills_a_class_the_fold_never_saw():
    proba = np.array([[0.25, 0.75]])
    aligned = crossval.align_proba(proba, np.array(["b", "d"]), np.array(["a", "b", "c", "d"]))
    assert aligned.tolist() == [[0, 0.25, 0, 0.75]]


def test_params_map_to_the_wrapped_estimator_and_unknown_ones_are_refused():
    model = make_model("xgb", max_depth=3, early_stopping_rounds=7)
    params = model.get_params()
    assert params["estimator__max_depth"] == 3 and params["early_stopping_rounds"] == 7
    with pytest.raises(ValueError, match="unknown parameter 'depth'.*max_depth"):
        make_model("dt", depth=3)
    assert cli.parse_param("hidden=(64, 32)") == ("hidden", (64, 32))
    assert cli.parse_param("augment=false") == ("augment", False)
    assert cli.parse_param("max_features=sqrt") == ("max_features", "sqrt")


def test_cli_runs_lists_and_summarises(fashion_small, tmp_path):
    done = run_cli("competition.cv", "--model", "dt", "--data", str(fashion_small), "--folds", "3", "--param",
                   "max_depth=5", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "dt 3-fold accuracy 0." in done.stdout and "-> " in done.stdout
    (run,) = runs.list_runs(tmp_path / "runs")
    assert run.config["params"]["max_depth"] == 5 and run.config["overrides"] == {"max_depth": 5}
    listed = run_cli("competition.runs", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert run.name in listed.stdout and f"{run.scores['accuracy_mean']:.4f}" in listed.stdout
    bad = run_cli("competition.cv", "--model", "dt", "--data", str(fashion_small), "--param", "depth=3", "--runs-dir",
                  str(tmp_path / "runs"), cwd=tmp_path)
    assert bad.returncode == 1 and "unknown parameter 'depth'" in bad.stderr and "Traceback" not in bad.stderr
    models = run_cli("competition.cv", "--list", cwd=tmp_path)
    assert all(name in models.stdout for name in MODELS)


def test_cnn_flip_tta_averages_an_image_and_its_mirror(fashion):
    model = make_model("cnn", flip=True, epochs=1, width=4, stages=2, batch_size=32, verbose=0).fit(
        fashion.x_train[:120], fashion.y_train[:120])
    x = fashion.x_test[:16]
    with_tta = model.predict_proba(x)
    model.flip_tta = False
    plain, mirrored = model.predict_proba(x), model.predict_proba(x[:, :, ::-1])
    assert np.allclose(with_tta, (plain + mirrored) / 2) and not np.allclose(plain, mirrored)


def test_test_probabilities_are_the_mean_of_the_fold_models(fashion, tmp_path):
    run = obtain.run_cv("logreg", fashion, n_folds=3, params={"max_iter": 30}, runs_dir=tmp_path, progress=False)
    per_fold = [runs.load_fold(run.path, k).test_proba for k in range(3)]
    assert not np.allclose(per_fold[0], per_fold[1]), "the folds' models differ, so the mean is not any one of them"
    assert np.allclose(run.test(), np.mean(per_fold, axis=0))


@pytest.mark.parametrize("args,message", [
    (["--folds", "0"], "argument --folds: must be at least 2, got 0"),
    (["--folds", "1"], "argument --folds: must be at least 2, got 1"),
    (["--limit", "0"], "argument --limit: must be at least 1, got 0"),
    (["--seed", "-3"], "argument --seed: must be from 0 to 4294967295, got -3"),
    (["--folds", "five"], "argument --folds: expected an integer, got 'five'"),
    (["--limit", "7"], "cannot split a sample of 7 of 300 rows into 5 stratified folds"),
    (["--param", "max_depth"], "argument --param: --param expects name=value, got 'max_depth'"),
    (["--param", "max_depth=-1"], "The 'max_depth' parameter of DecisionTreeClassifier must be an int in the range"),
    (["--param", "depth=3"], "unknown parameter 'depth' for this model; valid: "),
])
def test_impossible_numbers_are_refused_in_one_line(fashion_small, tmp_path, args, message):
    done = run_cli("competition.cv", "--model", "dt", "--data", str(fashion_small), *args, "--runs-dir",
                   str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 1 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_runs_dir_that_is_a_file_is_refused_and_kept(fashion_small, tmp_path):
    (tmp_path / "runs").write_text("my notes")
    done = run_cli("competition.cv", "--model", "dt", "--data", str(fashion_small), "--folds", "3", cwd=tmp_path)
    assert done.returncode == 1 and done.stderr == "error: runs folder runs: is a file, not a folder\n"
    assert (tmp_path / "runs").read_text() == "my notes"


def test_a_corrupt_run_is_skipped_with_a_warning_not_fatal_to_the_others(fashion, tmp_path):
    good = obtain.run_cv("dt", fashion, n_folds=3, params={"max_depth": 3}, runs_dir=tmp_path, progress=False)
    bad = obtain.run_cv("dt", fashion, n_folds=3, params={"max_depth": 4}, runs_dir=tmp_path, progress=False)
    (bad.path / runs.CONFIG).write_text('{"model": "dt", "fol')
    with pytest.warns(InputWarning, match=f"skipped a damaged run: {bad.path}/config.json: cannot be read"):
        assert [r.path for r in runs.list_runs(tmp_path)] == [good.path]
    listed = run_cli("competition.runs", "--runs-dir", str(tmp_path), cwd=tmp_path)
    assert listed.returncode == 0 and good.name in listed.stdout and "warning: skipped a damaged run" in listed.stderr
    with pytest.raises(runs.RunError, match="config.json: cannot be read"):
        runs.load_run(bad.path)


@pytest.fixture(scope="module")
def plain_run(fashion, tmp_path_factory):
    return obtain.run_cv("dt", fashion, n_folds=3, params={"max_depth": 3}, runs_dir=tmp_path_factory.mktemp("plain"),
                     progress=False)


class Gone:
    """The key is left out (a stable name in the test ids, which every pytest-xdist worker must agree on)."""

    def __repr__(self) -> str:
        return "GONE"


GONE = Gone()
DAMAGES = [  # (file, key path, value, what load_run says)
    ("config", "params", [1, 2], "params must be an object of parameters, got [1, 2]"),
    ("config", "overrides", "none", 'overrides must be an object of parameters, got "none"'),
    ("config", "model", ["dt"], 'model must be a non-empty text, got ["dt"]'),
    ("config", "model", GONE, "model is missing"),
    ("config", "folds", 1, "folds must be an integer of at least 2, got 1"),
    ("config", "folds", 3.0, "folds must be an integer of at least 2, got 3.0"),
    ("config", "seed", -1, "seed must be an integer of at least 0, got -1"),
    ("config", "seeds", 0, "seeds must be an integer of at least 1, got 0"),
    ("config", "refit", "yes", 'refit must be true or false, got "yes"'),
    ("config", "limit", 0, "limit must be an integer of at least 1, or null, got 0"),
    ("config", "data", [], "data must be an object, got []"),
    ("config", "data.fingerprint", 123, "data.fingerprint must be a non-empty text, got 123"),
    ("config", "data.train_rows", "300", 'data.train_rows must be an integer of at least 1, got "300"'),
    ("config", "data.test_rows", GONE, "data.test_rows is missing"),
    ("config", "data.classes", [0], "data.classes must be a list of at least 2 classes, got [0]"),
    ("scores", "predict_seconds", "slow", 'predict_seconds must be a number of at least 0, got "slow"'),
    ("scores", "fit_seconds", GONE, "fit_seconds is missing"),
    ("scores", "fit_seconds", -1, "fit_seconds must be a number of at least 0, got -1"),
    ("scores", "accuracy_mean", 7.5, "accuracy_mean must be a number from 0 to 1, got 7.5"),
    ("scores", "accuracy_mean", True, "accuracy_mean must be a number from 0 to 1, got true"),
    ("scores", "accuracy_mean", float("nan"), "accuracy_mean must be a number from 0 to 1, got NaN"),
    ("scores", "accuracy_std", "0.01", 'accuracy_std must be a number from 0 to 1, got "0.01"'),
    ("scores", "oof_accuracy", -0.1, "oof_accuracy must be a number from 0 to 1, got -0.1"),
    ("scores", "log_loss_mean", None, "log_loss_mean must be a number of at least 0, got null"),
    ("scores", "oof_log_loss", float("inf"), "oof_log_loss must be a number of at least 0, got Infinity"),
    ("scores", "oof_rows", 1.5, "oof_rows must be an integer of at least 0, got 1.5"),
    ("scores", "folds", None, "folds must be a list of objects, got null"),
    ("scores", "folds", [1], "folds must be a list of objects, got [1]"),
    ("scores", "folds", 5, "folds must be a list of objects, got 5"),
    ("scores", "folds.1.accuracy", "high", 'folds[1].accuracy must be a number from 0 to 1, got "high"'),
    ("scores", "folds.0.log_loss", GONE, "folds[0].log_loss is missing"),
    ("scores", "folds.2.fold", -2, "folds[2].fold must be an integer of at least 0, got -2"),
]


def damage(run_dir, file: str, key: str, value) -> None:
    """Set (or, with ``GONE``, remove) ``key`` (``a.b``, ``folds.1.accuracy``) in the run's config or scores."""
    path = run_dir / f"{file}.json"
    record = json.loads(path.read_text())
    *outer, last = key.split(".")
    held = record
    for part in outer:
        held = held[int(part)] if isinstance(held, list) else held[part]
    last = int(last) if isinstance(held, list) else last
    if value is GONE:
        del held[last]
    else:
        held[last] = value
    path.write_text(json.dumps(record))


@pytest.mark.parametrize("file,key,value,words", DAMAGES, ids=[f"{f}.{k}={v!r}" for f, k, v, _ in DAMAGES])
def test_a_value_readers_take_of_the_wrong_type_or_range_is_a_damaged_run(plain_run, tmp_path, capsys,
                                                                         file, key, value, words):
    good, bad = tmp_path / "20200101-000000-dt", tmp_path / "20200101-000001-dt"
    shutil.copytree(plain_run.path, good)
    shutil.copytree(plain_run.path, bad)
    damage(bad, file, key, value)
    what = "config" if file == "config" else "scores"
    with pytest.raises(runs.RunError) as refused:
        runs.load_run(bad)
    assert str(refused.value) == f"{bad}/{file}.json: not a run's {what} ({words})"
    with pytest.warns(InputWarning, match="skipped a damaged run"):  # as tune and ensembles find runs
        assert runs.lookup(tmp_path, plain_run.config).finished.path == good
    for listing in ([], ["--compare"]):
        assert runs_main(["--runs-dir", str(tmp_path), *listing]) == 0
        out, err = capsys.readouterr()
        assert good.name in out and bad.name not in out
        assert err == f"warning: skipped a damaged run: {refused.value}\n"


def test_a_damaged_array_is_named_not_a_traceback(fashion, tmp_path):
    run = obtain.run_cv("dt", fashion, n_folds=3, params={"max_depth": 3}, runs_dir=tmp_path, progress=False)
    data = (run.path / runs.TEST).read_bytes()
    (run.path / runs.TEST).write_bytes(data[: len(data) // 2])
    with pytest.raises(runs.RunError, match=f"{run.path}/test.npy: damaged or unreadable"):
        run.test()
    np.save(run.path / runs.OOF, np.zeros((5, 10)))
    with pytest.raises(runs.RunError,
                       match=r"oof.npy: holds an array of shape \(5, 10\), the run's config says \(300, 10\)"):
        run.oof()


def test_resume_uses_the_run_settings_and_redoes_a_damaged_fold(fashion_small, tmp_path):
    first = run_cli("competition.cv", "--model", "dt", "--data", fashion_small.name, "--folds", "3", "--seed", "4",
                    "--limit", "150", "--param", "max_depth=4", "--runs-dir", str(tmp_path / "runs"),
                    cwd=fashion_small.parent)  # a relative --data
    assert first.returncode == 0, first.stderr
    (run,) = runs.list_runs(tmp_path / "runs")
    oof, test = run.oof(), run.test()
    for name in (runs.SCORES, runs.OOF, runs.TEST):  # as if interrupted after fold 1, whose file then got cut
        (run.path / name).unlink()
    (run.path / "folds" / "fold-1.npz").write_bytes(b"PK\x03\x04 cut short")
    elsewhere = tmp_path / "elsewhere"  # from another working directory, with no other option
    elsewhere.mkdir()
    resumed = run_cli("competition.cv", "--resume", str(run.path), cwd=elsewhere)
    assert resumed.returncode == 0, resumed.stderr
    assert "fold 1 is damaged (BadZipFile); it will be computed again" in resumed.stderr
    again = runs.load_run(run.path)
    assert again.finished and again.config["limit"] == 150 and again.config["seed"] == 4
    assert np.array_equal(again.oof(), oof, equal_nan=True) and np.array_equal(again.test(), test)


def test_pure_cross_validate_in_memory_equals_the_saved_run_with_any_executor(fashion, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    saved = obtain.run_cv("dt", fashion, n_folds=3, params={"max_depth": 5}, runs_dir=tmp_path, progress=False)
    estimator, folds, _ = obtain.plan("dt", fashion, n_folds=3, params={"max_depth": 5})
    seen = []
    serial = crossval.cross_validate(estimator, fashion.x_train, fashion.y_train, fashion.x_test, folds,
                               on_fold=lambda r: seen.append(r.fold))
    with ThreadPoolExecutor(2) as pool:
        pooled = crossval.cross_validate(estimator, fashion.x_train, fashion.y_train, fashion.x_test, folds,
                                         executor=pool)
    assert sorted(seen) == [0, 1, 2] and not list(tmp_path.glob("*/folds/fold-3*"))
    for result in (serial, pooled):
        assert np.array_equal(result.oof, saved.oof(), equal_nan=True) and np.array_equal(result.test, saved.test())
        assert result.scores["accuracy_mean"] == saved.scores["accuracy_mean"]


def test_the_keras_backend_is_part_of_what_a_run_must_match(fashion, tmp_path):
    run = obtain.run_cv("mlp", fashion, n_folds=3, params={"epochs": 1, "hidden": (8,), "verbose": 0},
                        runs_dir=tmp_path, progress=False)
    assert run.config["keras_backend"] == "tensorflow"
    config = json.loads((run.path / runs.CONFIG).read_text())
    (run.path / runs.CONFIG).write_text(json.dumps({**config, "keras_backend": "jax"}))
    (run.path / runs.SCORES).unlink()
    with pytest.raises(obtain.RunMismatchError, match="keras_backend: run has 'jax', now 'tensorflow'"):
        obtain.run_cv("mlp", fashion, n_folds=3, params={"epochs": 1, "hidden": (8,), "verbose": 0}, resume=run.path,
                  progress=False)
    _, _, wanted = obtain.plan("mlp", fashion, n_folds=3, params={"epochs": 1, "hidden": (8,), "verbose": 0})
    assert runs.lookup(tmp_path, wanted).finished is None
    assert obtain.plan("dt", fashion)[2]["keras_backend"] is None


@pytest.mark.parametrize("damage", ["rows", "probabilities", "test rows"])
def test_resume_redoes_a_fold_whose_arrays_were_tampered_with(fashion, tmp_path, damage):
    run = obtain.run_cv("logreg", fashion, n_folds=3, params={"max_iter": 30}, runs_dir=tmp_path, progress=False)
    oof, test = run.oof(), run.test()
    for name in (runs.SCORES, runs.OOF, runs.TEST):
        (run.path / name).unlink()
    arrays = dict(np.load(run.path / "folds" / "fold-0.npz"))
    if damage == "rows":
        arrays["rows"][:] = 0
    elif damage == "probabilities":
        arrays["proba"][:] = np.nan
    else:
        arrays["test_proba"] = arrays["test_proba"][:10]
    np.savez(run.path / "folds" / "fold-0.npz", **arrays)
    with pytest.warns(InputWarning, match="fold 0 is damaged"):
        again = obtain.run_cv("logreg", fashion, n_folds=3, params={"max_iter": 30}, resume=run.path, progress=False)
    assert np.array_equal(again.oof(), oof, equal_nan=True) and np.array_equal(again.test(), test)


def test_runs_refuses_a_runs_dir_that_is_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    done = run_cli("competition.runs", "--runs-dir", str(tmp_path / "notes.txt"), cwd=tmp_path)
    assert done.returncode == 1 and "is a file, not a folder of runs" in done.stderr


def test_seeds_make_one_run_that_averages_the_single_seed_runs(fashion, tmp_path):
    """``--seeds 3`` equals the runs seeded 87, 88 and 89 averaged, each fold scored on the average."""
    params = {"n_estimators": 5}
    averaged = obtain.run_cv("rf", fashion, n_folds=3, params=params, seeds=3, runs_dir=tmp_path / "avg",
                             progress=False)
    singles = [obtain.run_cv("rf", fashion, n_folds=3, params={**params, "random_state": 87 + k},
                         runs_dir=tmp_path / f"one-{k}", progress=False) for k in range(3)]
    assert averaged.config["seeds"] == 3 and averaged.config["params"]["random_state"] == 87
    assert np.allclose(averaged.test(), np.mean([s.test() for s in singles], axis=0), atol=1e-12)
    assert np.allclose(averaged.oof(), np.mean([s.oof() for s in singles], axis=0), atol=1e-12, equal_nan=True)
    y = np.searchsorted(fashion.classes, fashion.y_train)
    for fold in range(3):
        saved = runs.load_fold(averaged.path, fold)
        assert saved.scores["accuracy"] == np.mean(np.argmax(saved.proba, axis=1) == y[saved.rows])
        assert saved.scores["seed_accuracy"] == [s.scores["folds"][fold]["accuracy"] for s in singles]
    assert "3 seeds" in runs.describe(averaged)
    one = obtain.run_cv("rf", fashion, n_folds=3, params=params, seeds=1, runs_dir=tmp_path / "one", progress=False)
    assert np.array_equal(one.test(), singles[0].test()), "one seed is exactly the plain run"


def test_every_seed_of_a_model_moves_and_a_model_without_one_is_refused(fashion_small, tmp_path):
    estimator = make_model("xgb")
    members = [reseeded(estimator, k).get_params() for k in range(3)]
    assert [m["random_state"] for m in members] == [87, 88, 89], "the inner early-stopping split"
    assert [m["estimator__random_state"] for m in members] == [87, 88, 89], "XGBoost's own sampling"
    assert reseeded(make_model("dt", random_state=2**32 - 1), 1).get_params()["estimator__random_state"] == 0
    done = run_cli("competition.cv", "--model", "dt", "logreg", "--seeds", "2", "--data", str(fashion_small),
                   "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "--model logreg: --seeds 2: model logreg has no seed to vary" in done.stderr
    assert not (tmp_path / "runs").exists(), "refused before any run starts"


def test_a_run_of_other_seeds_is_neither_resumed_nor_reused(fashion, tmp_path):
    run = obtain.run_cv("dt", fashion, n_folds=3, params={"max_depth": 3}, seeds=2, runs_dir=tmp_path, progress=False)
    with pytest.raises(obtain.RunMismatchError, match="seeds: run has 2, now 1"):
        obtain.run_cv("dt", fashion, n_folds=3, params={"max_depth": 3}, resume=run.path, progress=False)
    _, _, plain = obtain.plan("dt", fashion, n_folds=3, params={"max_depth": 3})
    assert runs.lookup(tmp_path, plain).finished is None
    old = {k: v for k, v in plain.items() if k != "seeds"}  # a config written before --seeds existed
    assert matching.differences(old, plain) == [] and matching.differences(old, {**plain, "seeds": 2})


def test_refit_trains_on_every_row_for_the_folds_mean_rounds(fashion, tmp_path):
    """--refit: the CV scores are the folds', the test probabilities those of one model trained
    on every row for the mean of the rounds the folds' early stopping kept."""
    params = {"n_estimators": 60, "early_stopping_rounds": 3, "learning_rate": 0.3}
    plain = obtain.run_cv("lgbm", fashion, n_folds=3, params=params, runs_dir=tmp_path / "plain", progress=False)
    refitted = obtain.run_cv("lgbm", fashion, n_folds=3, params=params, refit=True, runs_dir=tmp_path / "refit",
                         progress=False)
    assert refitted.scores["accuracy_mean"] == plain.scores["accuracy_mean"]
    assert np.array_equal(refitted.oof(), plain.oof(), equal_nan=True)
    rounds = [f["best_iteration"] for f in plain.scores["folds"]]
    best = round(float(np.mean(rounds)))
    assert refitted.scores["refit"]["iterations"] == best and refitted.scores["refit"]["rows"] == len(fashion.y_train)
    by_hand = make_model("lgbm", **{**params, "n_estimators": best, "validation_fraction": 0.0})
    by_hand.fit(fashion.x_train, fashion.y_train)
    assert np.allclose(refitted.test(), by_hand.predict_proba(fashion.x_test), atol=1e-12)
    assert not np.allclose(refitted.test(), plain.test()), "not the folds' average"
    assert refitted.config["refit"] is True and "refit" in runs.describe(refitted)
    _, _, wanted = obtain.plan("lgbm", fashion, n_folds=3, params=params)
    assert runs.lookup(tmp_path / "refit", wanted).finished is None, "a refit run is not the plain run"


def test_an_interrupted_refit_resumes_from_what_was_saved(fashion, tmp_path, monkeypatch):
    params = {"max_depth": 4}
    run = obtain.run_cv("dt", fashion, n_folds=3, params=params, refit=True, runs_dir=tmp_path, progress=False)
    test = run.test()
    (run.path / runs.SCORES).unlink()  # as if killed after the refit was saved
    monkeypatch.setattr(crossval, "fit_all", lambda *a: pytest.fail("the saved refit is used, not trained again"))
    again = obtain.run_cv("dt", fashion, n_folds=3, params=params, refit=True, resume=run.path, progress=False)
    assert np.array_equal(again.test(), test)
    for name in (runs.SCORES, runs.REFIT_SCORES):
        (run.path / name).unlink()  # killed during the refit: it runs again
    monkeypatch.undo()
    again = obtain.run_cv("dt", fashion, n_folds=3, params=params, refit=True, resume=run.path, progress=False)
    assert np.array_equal(again.test(), test)


def test_a_refit_after_a_plain_run_copies_its_folds_and_trains_only_the_refit(fashion, tmp_path, monkeypatch):
    """``make submit`` then ``submit --refit``: the folds are the plain run's (copied, not trained
    again), only the refit trains; and a plain run after a refit one trains nothing."""
    params = {"max_depth": 4}
    plain = obtain.run_cv("dt", fashion, n_folds=3, params=params, runs_dir=tmp_path, progress=False)
    fits = []
    real_fit_fold = crossval.fit_fold
    monkeypatch.setattr(crossval, "fit_fold", lambda *a, **k: fits.append(a) or real_fit_fold(*a, **k))
    refitted = obtain.run_cv("dt", fashion, n_folds=3, params=params, refit=True, runs_dir=tmp_path, progress=False)
    assert fits == [], "no fold trained again"
    assert refitted.path != plain.path and refitted.config["folds_from"] == str(plain.path)
    assert (refitted.scores["folds"] == plain.scores["folds"]
            and np.array_equal(refitted.oof(), plain.oof(), equal_nan=True))
    assert refitted.scores["refit"]["rows"] == len(fashion.y_train) and not np.allclose(refitted.test(), plain.test())
    plains_test = plain.test()  # read before the folder goes: a run made in the same second takes its name
    shutil.rmtree(plain.path)
    again = obtain.run_cv("dt", fashion, n_folds=3, params=params, runs_dir=tmp_path, progress=False)
    assert fits == [] and again.config["folds_from"] == str(refitted.path)
    assert np.array_equal(again.test(), plains_test), "the folds' mean, as the plain run had it"
    other = obtain.run_cv("dt", fashion, n_folds=3, params={"max_depth": 5}, refit=True, runs_dir=tmp_path,
                          progress=False)
    assert len(fits) == 3 and "folds_from" not in other.config, "another recipe's folds are trained"
