"""Run folders written before the run folder had a package of its own (``tests/runs/fixtures/
runs-before-39``: made by main at b321a32 with ``cv --model dt|logreg --folds 2`` and ``submit
--ensemble dt logreg`` on the ``tiny`` competition of ``tests/conftest.py``) still load, list,
compare, and serve ``submit``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from competition import runs, submit
from competition.data.loader import load_competition
from competition.runs.__main__ import main as runs_main

OLD = Path(__file__).parent / "fixtures" / "runs-before-39"
DT, LOGREG, ENSEMBLE = "20261207-111604-dt", "20261207-111617-logreg", "20261207-111624-ensemble-mean"


@pytest.fixture
def old_runs(tmp_path) -> Path:
    """A private copy of the old run folders (a submit may add runs beside them)."""
    return Path(shutil.copytree(OLD, tmp_path / "runs"))


def test_old_run_folders_load_and_list(old_runs, capsys):
    found = runs.list_runs(old_runs)
    assert [run.name for run in found] == [DT, LOGREG, ENSEMBLE]
    assert all(run.finished for run in found)
    for run in found:
        runs.verify(run)  # the saved scores are those of the arrays
        assert run.test().shape == (5, 3) and run.oof().shape == (12, 3)
    assert found[0].done_folds == [0, 1] and found[2].done_folds == []  # old ensembles kept no fold files
    assert runs_main(["--runs-dir", str(old_runs)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in listed] == [[DT, "dt"], [LOGREG, "logreg"], [ENSEMBLE, "ensemble-mean"]]
    assert "accuracy 0.2500 +- 0.0833  oof 0.2500" in listed[0]
    assert runs_main(["--runs-dir", str(old_runs), "--compare"]) == 0
    assert "cv accuracy" in capsys.readouterr().out


def test_submit_reuses_an_old_run_and_blends_old_runs(old_runs, tiny, tmp_path, capsys):
    made_on = runs.load_run(old_runs / DT).config["data"]["fingerprint"]
    assert load_competition(tiny, min_class_rows=2).fingerprint == made_on  # the same data, rebuilt
    common = ["--data", str(tiny), "--folds", "2", "--runs-dir", str(old_runs), "--out", str(tmp_path / "subs")]
    assert submit.main(["--model", "dt", *common]) == 0
    assert f"reusing {old_runs / DT}" in capsys.readouterr().out
    assert submit.main(["--run", str(old_runs / ENSEMBLE), *common]) == 0
    assert submit.main(["--ensemble", "dt", "logreg", "--method", "mean", *common]) == 0
    new = runs.list_runs(old_runs)[-1]
    assert new.config["model"] == "ensemble-mean" and new.name != ENSEMBLE
    assert new.done_folds == [0, 1]  # an ensemble now has fold files like every run
    assert new.scores["oof_accuracy"] == runs.load_run(old_runs / ENSEMBLE).scores["oof_accuracy"]
    assert len(list((tmp_path / "subs").glob("*.csv"))) == 3
