"""Benchmark: time to accuracy of the CNNs against the blog's CNN, in one process, on one fold.

    python bench/accuracy.py [--data data/fashion-mnist] [--seed-epochs 35] [--models cnn cnn-quick]
                             [--param epochs=24] [--baseline cnn-blog] [--baseline-param k=v]
                             [--cv] [--refit] [--out bench/accuracy.png]

The baseline (``cnn-blog`` unless --baseline names another model) and each of --models (default:
``cnn``, and ``cnn-quick``, the same network on a short schedule) train on fold 0's training rows
of the competition's 5 folds (48,000 images of the full data) with their own recipes unchanged
(``cnn-blog`` holds out its own 20% for early stopping, as the blog did); after every epoch a
watcher scores the fold's 12,000 held-out images, its time left out of the clock. Printed: samples
per second of training for each and its ratio to the baseline's, validation accuracy against
training time (a PNG), the time each first reaches 0.90, 0.92, 0.93 and 0.94, and the ratio of those
times (a lower bound where the baseline did not get there in its epochs). ``--baseline cnn
--baseline-param first_convs=2 ...`` times an earlier recipe of the cnn against today's.

``--cv`` also times target 1: the 5-fold cross-validation of ``cnn`` as ``make submit`` runs it
(its CV accuracy and wall time; the run folder goes to --runs-dir, where ``submit`` reuses it).
``--refit`` times target 2: one ``cnn`` trained on all training rows (its own training time).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from competition.cli import parse_param  # noqa: E402
from competition.cv.obtain import run_cv  # noqa: E402
from competition.data.loader import load_competition  # noqa: E402
from competition.cv.folds import fold_rows, make_folds  # noqa: E402
from competition.fsutil import write_picture  # noqa: E402
from competition.models import make_model  # noqa: E402
from competition.models.networks import as_images, import_keras  # noqa: E402
from competition.models.pixels import scale_pixels  # noqa: E402
from competition.runs import format_seconds  # noqa: E402

THRESHOLDS = (0.90, 0.92, 0.93, 0.94)


def watched(model, x_valid: np.ndarray, y_valid: np.ndarray, curve: list):
    """``model`` with a watcher: after each epoch, the held-out accuracy and the training time so
    far (the watcher's own time left out) appended to ``curve``."""
    keras = import_keras()

    class Watcher(keras.callbacks.Callback):
        trained = 0.0  # over every fit call: the cnn calls fit once an epoch

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.trained += time.perf_counter() - self.started
            proba = self.model.predict(x_valid, batch_size=1024, verbose=0)
            curve.append((self.trained, float(np.mean(np.argmax(proba, axis=1) == y_valid))))
            print(f"  epoch {epoch + 1:3d}  {self.trained:7.1f} s  held-out accuracy {curve[-1][1]:.4f}", flush=True)

    model._callbacks = lambda: [Watcher()]  # the estimator's hook for extra callbacks; training is unchanged
    return model


def first_reach(curve: list, threshold: float) -> float | None:
    return next((seconds for seconds, accuracy in curve if accuracy >= threshold), None)


def train_watched(name: str, params: dict, x_train, y_train, x_valid, y_valid) -> dict:
    curve: list = []
    model = watched(make_model(name, verbose=0, **params), as_images(scale_pixels(x_valid)), y_valid, curve)
    print(f"{name}: training on {len(y_train):,} images", flush=True)
    start = time.perf_counter()
    model.fit(x_train, y_train)
    wall = time.perf_counter() - start
    final = float(np.mean(model.predict(x_valid) == y_valid))  # the model's own prediction (flip TTA for cnn)
    epochs = len(curve)
    train_rows = len(y_train) * (1 - getattr(model, "validation_fraction", 0.0))
    return {"name": name, "curve": curve, "epochs": epochs, "final": final, "wall": wall,
            "samples_per_second": train_rows * epochs / curve[-1][0]}


def plot(results: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in results:
        seconds, accuracy = zip(*r["curve"])
        ax.plot(np.array(seconds) / 60, accuracy, marker="o", markersize=3, label=r["name"])
    for threshold in THRESHOLDS:
        ax.axhline(threshold, color="grey", linewidth=0.5, linestyle=":")
    ax.set(xlabel="training time (minutes, 2 CPU cores)", ylabel="held-out accuracy (fold 0, 12,000 images)",
           title="time to accuracy on Fashion-MNIST",
           ylim=(min(0.85, min(r["curve"][-1][1] for r in results) - 0.03), 0.96))  # every curve's end in view
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    write_picture(path, fig, dpi=110, tight=False)
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/fashion-mnist"))
    parser.add_argument("--seed-epochs", type=int, default=35,
                        help="epochs of cnn-blog (default 35: it first reached 0.92 at epoch 31; its recipe's 500 "
                             "would take hours)")
    parser.add_argument("--models", nargs="+", default=["cnn", "cnn-quick"], metavar="NAME",
                        help="the models timed against the baseline (default: cnn cnn-quick)")
    parser.add_argument("--param", type=parse_param, action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of every model in --models (and of --cv's and --refit's cnn)")
    parser.add_argument("--baseline", default="cnn-blog", metavar="NAME",
                        help="the model the others are timed against (default cnn-blog, for --seed-epochs epochs)")
    parser.add_argument("--baseline-param", type=parse_param, action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of the baseline (for cnn-blog, epochs defaults to --seed-epochs)")
    parser.add_argument("--cv", action="store_true", help="also time the 5-fold CV of cnn (target 1)")
    parser.add_argument("--refit", action="store_true", help="also time one cnn on all training rows (target 2)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("bench/accuracy.png"))
    args = parser.parse_args()
    comp = load_competition(args.data)
    y = np.searchsorted(comp.classes, comp.y_train)
    train, held_out = fold_rows(make_folds(comp.y_train, 5, 87), 0)
    parts = comp.x_train[train], y[train], comp.x_train[held_out], y[held_out]
    new = [train_watched(name, dict(args.param), *parts) for name in args.models]
    seed_params = {**({"epochs": args.seed_epochs} if args.baseline == "cnn-blog" else {}), **dict(args.baseline_param)}
    seed = train_watched(args.baseline, seed_params, *parts)
    seed["name"] = f"{args.baseline} (baseline)" if args.baseline in args.models else args.baseline
    results = [seed, *new]
    plot(results, args.out)
    print(f"\n{'model':<10} {'epochs':>6} {'samples/s':>10} {'final':>7}  "
          + "  ".join(f"to {t:.2f}" for t in THRESHOLDS))
    for r in results:
        reach = [first_reach(r["curve"], t) for t in THRESHOLDS]
        print(f"{r['name']:<10} {r['epochs']:>6} {r['samples_per_second']:>10.0f} {r['final']:>7.4f}  " +
              "  ".join(f"{s:7.0f}s" if s is not None else "      -" for s in reach))
    for r in new:
        print(f"\n{r['name']}: samples/s against {seed['name']}'s: "
              f"{r['samples_per_second'] / seed['samples_per_second']:.2f}x")
        for t in THRESHOLDS:
            mine, theirs = first_reach(r["curve"], t), first_reach(seed["curve"], t)
            if mine is None:
                continue
            if theirs is not None:
                print(f"time to {t:.2f}: {r['name']} {mine:.0f} s, {seed['name']} {theirs:.0f} s: "
                      f"{theirs / mine:.1f}x sooner")
            else:
                print(f"time to {t:.2f}: {r['name']} {mine:.0f} s, {seed['name']} not within its {seed['epochs']} "
                      f"epochs ({seed['curve'][-1][0]:.0f} s): more than {seed['curve'][-1][0] / mine:.1f}x sooner")
    if args.refit:
        model = make_model("cnn", verbose=0, **dict(args.param))
        start = time.perf_counter()
        model.fit(comp.x_train, comp.y_train)
        print(f"target 2: one cnn on all {len(comp.y_train):,} rows trained in {time.perf_counter() - start:.0f} s")
    if args.cv:
        start = time.perf_counter()
        run = run_cv("cnn", comp, params=dict(args.param), runs_dir=args.runs_dir)
        s = run.scores
        print(f"target 1: cnn 5-fold CV accuracy {s['accuracy_mean']:.4f} +- {s['accuracy_std']:.4f} "
              f"(OOF {s['oof_accuracy']:.4f}) in {format_seconds(time.perf_counter() - start)} -> {run.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
