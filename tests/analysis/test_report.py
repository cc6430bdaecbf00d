"""Reports: real pictures, and numbers that equal scikit-learn's on the OOF predictions."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import classification_report, confusion_matrix

from competition import runs
from competition.analysis.report import data_report, run_report
from competition.cv import obtain
from competition.data.loader import load_competition
from tests.helpers import make_competition


def picture(path, min_width=300):
    image = np.asarray(Image.open(path).convert("RGB"), dtype=float)
    assert image.shape[1] >= min_width and image.shape[0] >= 200, f"{path.name} is {image.shape}"
    assert image.var() > 0, f"{path.name} is blank"
    return image


@pytest.fixture(scope="module")
def fashion(fashion_small):
    return load_competition(fashion_small)


def table_numbers(text: str, heading: str) -> list[list[str]]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith("|") and not line.startswith("|---")][1:]


def test_report_of_a_keras_run(fashion, tmp_path):
    run = obtain.run_cv("mlp", fashion, n_folds=2,
                        params={"epochs": 3, "hidden": (32,), "batch_size": 32, "verbose": 0},
                        runs_dir=tmp_path, progress=False)
    report = run_report(run.path, comp=fashion)
    for name in ("learning_curves.png", "confusion_matrix.png", "per_class.png", "mistakes.png"):
        picture(run.path / name)
    text = report.read_text()
    oof, y = run.oof(), run.labels()
    predicted = np.argmax(oof, axis=1)
    matrix = confusion_matrix(y, predicted, labels=range(10))
    rows = table_numbers(text, "## Confusion matrix (OOF)")
    assert [[int(v) for v in row[1:]] for row in rows] == matrix.tolist()
    assert rows[0][0] == "T-shirt/top" and rows[9][0] == "Ankle boot"  # names from classes.csv
    expected = classification_report(y, predicted, labels=range(10), output_dict=True, zero_division=0)
    for k, row in enumerate(table_numbers(text, "## Per-class scores (OOF)")):
        assert float(row[1]) == pytest.approx(expected[str(k)]["precision"], abs=5e-5)
        assert float(row[2]) == pytest.approx(expected[str(k)]["recall"], abs=5e-5)
        assert float(row[3]) == pytest.approx(expected[str(k)]["f1-score"], abs=5e-5)
        assert int(row[4]) == expected[str(k)]["support"]
    assert "![learning curves](learning_curves.png)" in text


def test_report_without_history_still_draws_the_rest(fashion, tmp_path):
    run = obtain.run_cv("rf", fashion, n_folds=3, params={"n_estimators": 10}, runs_dir=tmp_path, progress=False)
    text = run_report(run.path, comp=fashion).read_text()
    assert not (run.path / "learning_curves.png").exists() and "no training history" in text
    for name in ("confusion_matrix.png", "per_class.png", "mistakes.png"):
        picture(run.path / name)
    ids = re.search(r"Rows of train.csv \(ids\): (.*)", text).group(1).split(", ")
    oof, y = run.oof(), run.labels()
    rows = [list(fashion.train_ids).index(i) for i in ids]
    assert all(np.argmax(oof[r]) != y[r] for r in rows), "only mistakes are shown"
    confidences = [oof[r].max() for r in rows]
    assert confidences == sorted(confidences, reverse=True) and len(rows) <= 25


def test_boosting_curves_and_rgb_string_labels(tmp_path):
    labels = {f"r{i:02d}": ["cat", "dog", "bird"][i % 3] for i in range(60)}
    root, _ = make_competition(tmp_path / "rgb", labels, [f"t{i}" for i in range(5)], shape=(10, 12, 3))
    comp = load_competition(root)
    run = obtain.run_cv("lgbm", comp, n_folds=3, params={"n_estimators": 15}, runs_dir=tmp_path / "runs",
                        progress=False)
    text = run_report(run.path, out=tmp_path / "out", comp=comp).read_text()
    picture(tmp_path / "out" / "learning_curves.png")
    picture(tmp_path / "out" / "mistakes.png")
    assert "| bird |" in text
    data = data_report(root, out=tmp_path / "data")
    picture(tmp_path / "data" / "samples.png")
    picture(tmp_path / "data" / "class_balance.png")
    assert "| cat | 20 | 33.3% |" in data.read_text()


def test_cv_and_submit_draw_reports_with_report(fashion_small, tmp_path, monkeypatch, capsys):
    """The commands' ``main`` in this process: the option's wiring is the point, not a process."""
    from competition.cv.__main__ import main as cv_main
    from competition.submit import main as submit_main

    monkeypatch.chdir(tmp_path)
    base = ["--data", str(fashion_small), "--folds", "3", "--param", "max_depth=4", "--report"]
    assert cv_main(["--model", "dt", *base]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "report: " in capsys.readouterr().out and (run_dir / "report.md").is_file()
    (run_dir / "report.md").unlink()
    assert submit_main(["--model", "dt", *base]) == 0
    assert "reusing" in capsys.readouterr().out and (run_dir / "report.md").is_file()
    picture(run_dir / "confusion_matrix.png")


def test_cli_for_data_and_runs(fashion_small, tmp_path):
    done = subprocess.run([sys.executable, "-m", "competition.report", "--data", str(fashion_small), "--out",
                           str(tmp_path / "d")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    picture(tmp_path / "d" / "samples.png")
    bad = subprocess.run([sys.executable, "-m", "competition.report", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 1 and "not a run folder" in bad.stderr


def test_a_report_never_draws_over_files_it_did_not_draw(fashion, tmp_path):
    run = obtain.run_cv("dt", fashion, n_folds=3, params={"max_depth": 3}, runs_dir=tmp_path / "runs", progress=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("# my thesis notes\n")
    with pytest.raises(runs.RunError, match="report.md: exists and is not a report drawn by competition.report"):
        run_report(run.path, mine)
    (mine / "report.md").unlink()
    (mine / "per_class.png").write_bytes(b"my picture")
    with pytest.raises(runs.RunError, match="per_class.png: exists and was not drawn with a report here"):
        run_report(run.path, mine)
    assert (mine / "per_class.png").read_bytes() == b"my picture"
    (run.path / "report.md").write_text("my own notes on this run\n")
    with pytest.raises(runs.RunError, match="is not a report drawn"):
        run_report(run.path)
    assert (run.path / "report.md").read_text() == "my own notes on this run\n"
