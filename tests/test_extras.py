"""Installs by role: a command or model whose extra is missing says in one line what to install, and
every verb's ``--help`` works on the base install without loading a heavy library.

"Missing" is real here: each command runs in its own interpreter whose ``sitecustomize`` makes the
optional packages unimportable (a finder first on ``sys.meta_path`` answers ModuleNotFoundError, as
``import`` does on a machine without them) and, on exit, writes which modules were loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from competition import extras
from competition.prepare import sources
from competition.__main__ import VERBS

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = sorted(set(extras.LIBRARIES) | {"isal", "cv2", "dask", "h11"})  # all a base install lacks
# what --help must not wait for: the optional libraries, and the base's slow ones (scikit-learn alone
# took 1.7 of cv --help's 1.8 s), imported when a command runs
HEAVY = ("tensorflow", "keras", "xgboost", "lightgbm", "optuna", "mlflow", "dask", "distributed", "torch", "jax",
         "fastapi", "uvicorn", "httpx", "sklearn", "scipy", "pandas", "matplotlib")

SITECUSTOMIZE = """\
import atexit, json, os, sys

class Absent:  # first on the import path: the blocked packages are not found, as where they are not installed
    blocked = set(filter(None, os.environ["BLOCKED"].split(",")))

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Absent())
atexit.register(lambda: open(os.environ["LOADED"], "w").write(json.dumps(
    sorted(name for name, module in sys.modules.items() if module is not None))))
"""


@pytest.fixture(scope="module")
def without(tmp_path_factory):
    """Run ``python -m competition ARGS`` with the modules ``blocked`` unimportable; the finished
    process and the modules it had loaded when it ended."""
    hooks = tmp_path_factory.mktemp("site")
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)

    def run(args: list[str], blocked=OPTIONAL, cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess, set[str]]:
        loaded = hooks / "loaded.json"
        loaded.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks), str(ROOT)]), "BLOCKED": ",".join(blocked),
               "LOADED": str(loaded)}
        done = subprocess.run([sys.executable, "-m", "competition", *args], capture_output=True, text=True,
                              env=env, cwd=cwd, timeout=120)
        return done, set(json.loads(loaded.read_text()))

    return run


def one_line(done: subprocess.CompletedProcess, line: str) -> None:
    assert (done.returncode, done.stderr) == (1, line + "\n"), done.stderr[-2000:]


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_answers_help_on_the_base_install_without_a_heavy_library(verb, without):
    done, loaded = without([verb, "--help"])
    assert done.returncode == 0 and done.stdout.startswith(f"usage: competition {verb}"), done.stderr[-2000:]
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_model_without_its_extra_says_what_to_install(without, tmp_path):
    done, _ = without(["cv", "--model", "xgb", "--data", str(tmp_path)], blocked=["xgboost"])
    one_line(done, "error: the model 'xgb' needs XGBoost: pip install 'competition[gbdt]'")
    done, _ = without(["cv", "--model", "cnn-quick", "--data", str(tmp_path)], blocked=["keras"])
    one_line(done, "error: the model 'cnn-quick' needs Keras: pip install 'competition[keras]'")


def test_cv_list_marks_the_models_whose_extra_is_missing(without):
    done, loaded = without(["cv", "--list"], blocked=["xgboost", "tensorflow"])
    assert done.returncode == 0, done.stderr[-2000:]
    shown = dict(zip(done.stdout.splitlines()[::2], done.stdout.splitlines()[1::2]))
    marks = {line.split()[0]: params.strip() for line, params in shown.items()}
    assert marks["xgb"] == "not installed: it needs XGBoost: pip install 'competition[gbdt]'"
    assert marks["cnn"] == "not installed: it needs TensorFlow: pip install 'competition[keras]'"
    assert marks["lgbm"].startswith("early_stopping_rounds=20") and marks["rf"].startswith("bootstrap=True")
    assert "xgboost" not in loaded and "tensorflow" not in loaded


@pytest.mark.parametrize("args,line", [
    (["tune", "--model", "dt", "--trials", "1"], "error: tuning (competition tune) needs Optuna: "
                                                 "pip install 'competition[tune]'"),
    (["track", "runs/none"], "error: tracking (--track mlflow, competition track) needs MLflow: "
                             "pip install 'competition[tracking]'"),
    (["server", "serve"], "error: competition server serve needs FastAPI: pip install 'competition[server]'"),
    (["upload", "leaderboard", "--url", "http://127.0.0.1:9"],
     "error: the grader's client (upload, download, submit --upload) needs httpx: pip install 'competition[client]'"),
    (["download", "--url", "http://127.0.0.1:9", "--token", "t"],
     "error: the grader's client (upload, download, submit --upload) needs httpx: pip install 'competition[client]'"),
    (["cv", "--model", "dt", "--workers", "2"],
     "error: --workers/--scheduler needs Dask: pip install 'competition[dask]'"),
    (["upload", "sub.csv", "--kaggle", "fashion"],
     "error: --kaggle needs the official Kaggle package: pip install 'competition[kaggle]'"),
], ids=["tune", "track", "serve", "upload", "download", "cv-workers", "upload-kaggle"])
def test_a_command_without_its_extra_says_what_to_install(args, line, without, fashion_small, tmp_path):
    if args[0] in ("tune", "cv"):
        args = args + ["--data", str(fashion_small), "--runs-dir", str(tmp_path / "runs")]
    if args[0] == "track":
        (tmp_path / "runs" / "none").mkdir(parents=True)
    done, _ = without(args, cwd=tmp_path)
    one_line(done, line)
    assert not (tmp_path / "runs").exists() or args[0] == "track"  # refused before any work


@pytest.mark.parametrize("verb,cluster", [("cv", "--workers=2"), ("submit", "--workers=2"), ("tune", "--workers=2"),
                                         ("shift", "--workers=2"), ("cv", "--scheduler=tcp://127.0.0.1:9")])
def test_a_missing_dask_is_said_before_any_data_is_read(verb, cluster, without, tmp_path):
    """Said at once, not after the data is loaded: a folder that is not there is never looked at."""
    done, _ = without([verb, "--model", "dt", cluster, "--data", str(tmp_path / "no-such-folder")],
                      blocked=["dask", "distributed"], cwd=tmp_path)
    one_line(done, "error: --workers/--scheduler needs Dask: pip install 'competition[dask]'")


def test_an_installed_library_broken_inside_keeps_its_traceback(tmp_path, monkeypatch):
    (tmp_path / "xgboost").mkdir()
    (tmp_path / "xgboost" / "__init__.py").write_text("import a_dependency_that_is_not_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "xgboost", raising=False)
    with pytest.raises(ModuleNotFoundError, match="a_dependency_that_is_not_here"):
        extras.require("xgboost", "the model 'xgb'")
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(extras.MissingExtra):
        extras.require("xgboost", "the model 'xgb'")
    assert not extras.installed("xgboost")


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 4)], ids=["grey", "rgb", "rgba"])
def test_png_writer_without_opencv_writes_the_same_pixels(shape, tmp_path, monkeypatch):
    pixels = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    sources.write_png(str(tmp_path / "opencv.png"), pixels)
    monkeypatch.setitem(sys.modules, "cv2", None)
    sources._opencv.cache_clear()
    try:
        sources.write_png(str(tmp_path / "pillow.png"), pixels)
    finally:
        sources._opencv.cache_clear()
    for name in ("opencv.png", "pillow.png"):
        with Image.open(tmp_path / name) as image:
            assert np.array_equal(np.asarray(image), pixels), name
    assert (tmp_path / "opencv.png").read_bytes() != (tmp_path / "pillow.png").read_bytes()  # two writers indeed


class _Absent:
    """A finder first on ``sys.meta_path`` that answers ModuleNotFoundError for ``blocked``, as
    ``import`` does where a package is not installed."""

    def __init__(self, *blocked: str):
        self.blocked = set(blocked)

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


@pytest.mark.parametrize("model", ["cnn-quick", "mlp"])
def test_every_library_of_a_model_is_checked_not_only_the_first(model, monkeypatch):
    """A network needs Keras *and* its backend: Keras installed over a missing TensorFlow is said as
    TensorFlow, before any data is read (not Keras' import error at the first fold)."""
    from competition import models

    if not extras.installed("keras"):
        pytest.skip("Keras is not installed here: the case is Keras present, TensorFlow missing")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    for name in [m for m in sys.modules if m.partition(".")[0] == "tensorflow"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_Absent("tensorflow"), *sys.meta_path])
    assert models.requirements(model)[-1] == "tensorflow"
    with pytest.raises(extras.MissingExtra, match=f"^the model '{model}' needs TensorFlow: pip install "
                                                  r"'competition\[keras\]'$"):
        extras.ensure(models.requirements(model), f"the model {model!r}")
    assert models.missing(model) == ["tensorflow"]
