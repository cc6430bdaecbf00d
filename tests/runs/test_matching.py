"""One matching rule: whether a run is the one asked for, the same for cv, submit and tune, so
that loosening it in one of them turns a test red."""

from __future__ import annotations

import shutil

import pytest

from competition import submit
from competition.cv import obtain
from competition.data.loader import load_competition
from competition.runs import matching

PARAMS = {"max_depth": 3}


@pytest.fixture(scope="module")
def fashion(fashion_small):
    return load_competition(fashion_small)


@pytest.fixture(scope="module")
def plain(fashion):
    return obtain.plan("dt", fashion, n_folds=3, params=PARAMS)[2]


@pytest.mark.parametrize("key, other", [("model", "rf"), ("params", {"max_depth": 4}), ("folds", 4), ("seed", 1),
                                        ("seeds", 2), ("refit", True), ("limit", 100), ("keras_backend", "jax")])
def test_every_part_of_the_recipe_sets_a_run_apart(plain, key, other):
    wanted = {**plain, key: other}
    assert matching.differences(plain, wanted) and not matching.matching([Found(plain)], wanted)
    assert not matching.differences(plain, {**plain, "created": "another time", "origin": {"study": "x"}})


def test_other_data_sets_a_run_apart_and_a_key_left_out_means_its_default(plain):
    other = {**plain, "data": {**plain["data"], "fingerprint": "0" * 64}}
    assert matching.differences(plain, other) == [f"data fingerprint: run has {plain['data']['fingerprint'][:12]}, "
                                                  "now 000000000000 (the CSVs or images changed)"]
    old = {key: value for key, value in plain.items() if key not in matching.DEFAULTS}  # before --seeds, --refit
    assert matching.differences(old, plain) == [] and matching.matching([Found(old)], plain)
    assert matching.differences(old, {**plain, "seeds": 2}) == ["seeds: run has 1, now 2"]
    assert matching.differences(old, {**plain, "refit": True}) == ["refit: run has False, now True"]


class Found:
    """A finished run as ``matching.matching`` sees one: a config."""

    finished = True

    def __init__(self, config):
        self.config = config


@pytest.mark.parametrize("other", [{"seeds": 2}, {"refit": True}], ids=["seeds", "refit"])
def test_a_run_that_differs_only_in_seeds_or_refit_is_reused_by_none(fashion_small, fashion, tmp_path, other):
    made = obtain.run_cv("dt", fashion, n_folds=3, params=PARAMS, runs_dir=tmp_path / "cv", progress=False, **other)
    with pytest.raises(obtain.RunMismatchError, match="cannot resume"):
        obtain.run_cv("dt", fashion, n_folds=3, params=PARAMS, resume=made.path, progress=False)

    shutil.copytree(made.path, tmp_path / "submit" / made.name)
    args = submit.build_parser().parse_args(["--model", "dt", "--data", str(fashion_small), "--folds", "3",
                                             "--param", "max_depth=3", "--runs-dir", str(tmp_path / "submit")])
    chosen = submit.choose_run(args, fashion)
    assert chosen.path.parent == tmp_path / "submit" and chosen.path.name != made.name
    assert not matching.differences(chosen.config, obtain.plan("dt", fashion, n_folds=3, params=PARAMS)[2])

    tune = pytest.importorskip("competition.tune")
    pytest.importorskip("optuna")  # the `tune` extra
    from competition.models.spaces import Choice

    shutil.copytree(made.path, tmp_path / "tune" / made.name)
    tuned = tune.tune("dt", fashion, n_folds=3, n_trials=1, runs_dir=tmp_path / "tune",
                      space={"max_depth": Choice((3,))}, progress=False)
    assert "run" not in tuned.study.trials[0].user_attrs, "the trial took the other run's scores"
    assert tuned.how == "saved" and tuned.run.path.name != made.name
