"""The CNN's training recipe: host-side augmentation, the warm-up + cosine schedule, a time
budget that sizes the epochs, and defaults that still learn from a few hundred images."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from competition.cv import obtain
from competition.data.loader import load_competition
from competition.models import keras_backend, make_model
from competition.models.backend import default_keras_backend
from competition.models.networks import (augment, epochs_within, import_keras, in_batches, schedule_epochs,
                                         warmup_cosine)


def test_a_shift_moves_each_image_by_its_own_offset_and_fills_zeros():
    images = np.arange(2 * 6 * 5 * 1, dtype=np.float32).reshape(2, 6, 5, 1) + 1
    rng = np.random.default_rng(0)
    out = augment(images, rng, flip=False, shift=2, erase=0.0)
    assert out.shape == images.shape and out.dtype == images.dtype
    for got, original in zip(out[..., 0], images[..., 0]):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(got, np.roll(np.pad(original, 2), (dy, dx), axis=(0, 1))[2:-2, 2:-2])]
        assert len(matches) == 1, "each image is its original moved by one offset, zeros coming in"
    many = augment(np.ones((200, 6, 5, 1), np.float32), np.random.default_rng(1), flip=False, shift=2, erase=0.0)
    assert len({m.tobytes() for m in many}) > 10, "offsets are drawn per image, not per batch"


def test_flips_mirror_about_half_the_images_and_erasing_changes_a_rectangle():
    images = np.random.default_rng(2).random((400, 8, 8, 1)).astype(np.float32)
    flipped = augment(images, np.random.default_rng(3), flip=True, shift=0, erase=0.0)
    mirrored = [np.array_equal(f, i[:, ::-1]) for f, i in zip(flipped, images)]
    same = [np.array_equal(f, i) for f, i in zip(flipped, images)]
    assert all(m or s for m, s in zip(mirrored, same)) and 150 < sum(mirrored) < 250
    erased = augment(images, np.random.default_rng(4), flip=False, shift=0, erase=1.0)
    for e, i in zip(erased[:20], images[:20]):
        changed = np.argwhere(e[..., 0] != i[..., 0])
        assert len(changed), "every image erased with erase=1"
        (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
        assert (bottom - top + 1) * (right - left + 1) <= 4 * 4, "one rectangle of at most half each side"
    assert np.array_equal(augment(images, np.random.default_rng(5), flip=False, shift=0, erase=0.0), images)


def test_the_schedule_warms_up_then_decays_to_zero():
    schedule = warmup_cosine(import_keras(), 0.01, steps_per_epoch=10, epochs=5)
    rates = [float(schedule(step)) for step in range(51)]
    assert rates[0] == pytest.approx(0.001) and rates[10] == pytest.approx(0.01)
    assert all(a < b for a, b in zip(rates[:10], rates[1:11])), "rising through the first epoch"
    assert all(a >= b for a, b in zip(rates[10:], rates[11:])), "then falling"
    assert rates[50] == pytest.approx(0.0, abs=1e-9) and rates[30] == pytest.approx(0.005)
    schedule.epochs = 3  # what a time budget does after the first epoch
    assert float(schedule(30)) == pytest.approx(0.0, abs=1e-9), "the cosine reaches zero at the new end"


def convs_between_pools(model) -> list[int]:
    """The 3x3 convs of each stage of a built network, stages split at its poolings."""
    counts = [0]
    for layer in model.layers:
        if type(layer).__name__ == "MaxPooling2D":
            counts.append(0)
        counts[-1] += type(layer).__name__ == "Conv2D"
    return counts


def test_the_full_size_stage_has_first_convs_and_the_others_convs():
    keras = import_keras()
    assert convs_between_pools(make_model("cnn", first_convs=1, convs=2).build(keras, (28, 28, 1), 10)) == [1, 2, 2]
    assert convs_between_pools(make_model("cnn", first_convs=3, convs=1).build(keras, (28, 28, 1), 10)) == [3, 1, 1]
    assert convs_between_pools(make_model("cnn", first_convs=None, convs=2).build(keras, (28, 28, 1), 10)) == [2, 2, 2]


def test_the_default_schedule_is_seven_epochs_or_two_thousand_steps_whichever_is_longer():
    assert schedule_epochs(None, 375) == 7, "48,000 rows in batches of 128"
    assert schedule_epochs(None, 33) == 61 and schedule_epochs(None, 10) == 200, "720 and 150 rows"
    assert schedule_epochs(3, 10) == 3, "epochs given are kept"
    assert make_model("cnn").epochs is None and make_model("cnn-quick").epochs == 5


def test_cnn_quick_is_the_default_network_on_a_short_schedule():
    default, quick = make_model("cnn").get_params(), make_model("cnn-quick").get_params()
    differing = {name for name in default if default[name] != quick[name]}
    assert differing == {"epochs", "flip_tta"}, "the same network (one conv at full size), a shorter schedule"


def test_a_time_budget_holds_as_many_epochs_as_fit_at_the_first_ones_pace():
    assert epochs_within(30.0, 4.0) == 7 and epochs_within(30.0, 29.0) == 2 and epochs_within(1e9, 1.0) == 1000


def test_a_cnn_with_a_time_budget_trains_as_many_epochs_as_fit(fashion_small):
    comp = load_competition(fashion_small)
    model = make_model("cnn", width=4, stages=2, time_budget=1e-3, verbose=0).fit(comp.x_train, comp.y_train)
    assert len(model.history_["loss"]) == 2 == model.best_iteration_, "two epochs at least, then the budget is spent"


def test_the_cnns_log_counts_epochs_out_of_the_whole_schedule(fashion_small, capfd):
    """One ``fit`` call an epoch, each logged as epoch k of the schedule's length, not of k."""
    comp = load_competition(fashion_small)
    model = make_model("cnn", width=4, stages=2, epochs=3, verbose=2).fit(comp.x_train, comp.y_train)
    log = capfd.readouterr().out
    assert [line for line in log.splitlines() if line.startswith("Epoch")] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert len(model.history_["loss"]) == 3


def test_the_default_cnn_learns_from_a_few_hundred_images(fashion_small, tmp_path):
    """150 training images a fold: batches shrink so that an epoch has enough steps for batch
    norm to settle (the old defaults scored 0.13 on a 900-row slice, below the decision tree), and
    the schedule has 2,000 steps (200 epochs here, ``schedule_epochs``). Two folds: 0.81 against
    the tree's 0.61 (the earlier default, 24 epochs with flips and shifts: 0.74); with the batch
    kept at 128 (``_batch_size`` broken), 0.38."""
    comp = load_competition(fashion_small)
    tree = obtain.run_cv("dt", comp, n_folds=2, runs_dir=tmp_path, progress=False)
    net = obtain.run_cv("cnn", comp, n_folds=2, params={"verbose": 0}, runs_dir=tmp_path, progress=False)
    assert net.scores["accuracy_mean"] > tree.scores["accuracy_mean"] + 0.1, (net.scores, tree.scores)
    assert make_model("cnn")._batch_size(200) == 16 and make_model("cnn")._batch_size(48_000) == 128
    assert make_model("cnn-blog")._batch_size(200) == 500, "the blog's recipe keeps its batch"


def test_a_time_budget_is_refused_for_a_model_without_epochs(fashion_small, tmp_path):
    done = subprocess.run([sys.executable, "-m", "competition.cv", "--model", "rf", "--time-budget", "5", "--data",
                           str(fashion_small), "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "--time-budget: model rf takes no time budget (only cnn" in done.stderr and not (tmp_path / "runs").exists()
    assert (obtain.seconds_per_fit("cnn", 30, n_folds=5, seeds=2, refit=False)
            == round(30 * 60 * obtain.BUDGET_SHARE / 10, 1))
    assert (obtain.seconds_per_fit("cnn", 30, n_folds=5, seeds=1, refit=True)
            == round(30 * 60 * obtain.BUDGET_SHARE / 6.25, 1))


def test_without_keras_backend_the_first_installed_backend_trains(monkeypatch):
    """A GPU machine with JAX alone runs the same commands: TensorFlow if installed, else JAX, else PyTorch."""
    import importlib.util

    installed = {"jax", "torch"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name in installed else None)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert default_keras_backend() == "jax" == keras_backend("cnn") and keras_backend("rf") is None
    installed.discard("jax")
    assert default_keras_backend() == "torch"
    installed.add("tensorflow")
    assert default_keras_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert default_keras_backend() == "jax", "the variable, when set, decides"


def test_each_epoch_trains_on_a_new_order_in_a_pipeline_that_does_not_autotune(fashion_small, monkeypatch):
    """The rows are shuffled by NumPy, and on TensorFlow handed over as a ``tf.data`` pipeline whose
    autotuning is off: Keras' own pipeline from arrays held up the end of every ``fit``."""
    keras = import_keras()
    seen = []
    real_fit = keras.Model.fit

    def fit(self, x, **kwargs):
        assert x.options().autotune.enabled is False and kwargs["shuffle"] is False
        seen.append(np.concatenate([labels.numpy().argmax(axis=1) for _, labels in x]))
        return real_fit(self, x, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit)
    comp = load_competition(fashion_small)
    model = make_model("cnn", width=4, stages=2, epochs=2, verbose=0).fit(comp.x_train, comp.y_train)
    first, second = seen
    encoded = np.searchsorted(model.classes_, comp.y_train)
    assert sorted(first) == sorted(encoded) and not np.array_equal(first, encoded) and not np.array_equal(first, second)
    assert in_batches(np.zeros((5, 2, 2, 1)), batch=2)["x"].options().autotune.enabled is False, "predict's too"
