"""What a long run prints as it goes: each fold's held-out score when it ends, the running mean
labelled as one, and after a network's first epoch about when its fit ends."""

from __future__ import annotations

import re

import numpy as np
import pytest

from competition import runs
from competition.cv import obtain
from competition.data.loader import load_competition
from competition.models import make_model


@pytest.fixture(scope="module")
def fashion(fashion_small):
    return load_competition(fashion_small)


def test_each_fold_prints_its_held_out_score_as_it_ends(fashion, tmp_path, capsys):
    run = obtain.run_cv("dt", fashion, n_folds=3, params={"max_depth": 4}, runs_dir=tmp_path, progress=True)
    out = capsys.readouterr().out
    printed = {int(fold): float(score) for fold, score in
               re.findall(r"\bdt fold (\d): held-out accuracy (0\.\d{4}), log loss", out)}
    saved = {fold: runs.load_fold(run.path, fold).scores["accuracy"] for fold in range(3)}
    assert printed == pytest.approx(saved, abs=5e-5)
    assert f"mean held-out accuracy of 3 fold(s) {np.mean(list(saved.values())):.4f}" in out
    assert "accuracy=" not in out  # the unlabelled running mean


def test_a_network_says_after_its_first_epoch_about_when_it_ends(fashion, capsys):
    make_model("cnn", width=4, stages=2, epochs=3, verbose=2).fit(fashion.x_train, fashion.y_train)
    out = capsys.readouterr().out
    assert re.search(r"\bfirst epoch took \d+ s: about \d+\.\d min more for the other 2 epoch\(s\) of this fit\. "
                     r"Keras's accuracy is on the training rows", out), out
