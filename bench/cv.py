"""Benchmark: cross-validate the model zoo on the full competition and print each model's figures.

    python bench/cv.py [--data data/fashion-mnist] [--models dt rf ...] [--folds 5] [--param cnn:epochs=10]

Per model: CV accuracy mean +- std over the folds, OOF accuracy, wall time of the whole run, and
for networks the mean epochs trained and seconds per epoch. The blog posts' holdout accuracies
(DT 0.79, RF 0.88, MLP 0.895, CNN 0.925) are printed beside as the reference. Every run is an
ordinary run folder under --runs-dir, ready to be ensembled or submitted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from competition.cli import parse_param  # noqa: E402
from competition.cv.obtain import run_cv  # noqa: E402
from competition.data.loader import load_competition  # noqa: E402
from competition.runs import format_seconds  # noqa: E402

BLOG = {"dt": 0.79, "rf": 0.88, "mlp": 0.895, "mlp-blog": 0.895, "cnn": 0.925, "cnn-blog": 0.925}
DEFAULT_MODELS = ["dt", "logreg", "rf", "lgbm", "xgb", "mlp", "cnn"]


def model_param(text: str) -> tuple[str, str, object]:
    model, sep, rest = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"--param expects model:name=value, got {text!r}")
    return (model, *parse_param(rest))


def row(model: str, run, wall: float) -> str:
    s = run.scores
    epochs = [f["best_iteration"] for f in s["folds"] if f.get("best_iteration")]
    trained = [len(h["loss"]) for h in _histories(run) if h and "accuracy" in h]
    per_epoch = f"{s['fit_seconds'] / sum(trained):6.1f}" if trained else "     -"
    blog = f"{BLOG[model]:.3f}" if model in BLOG else "    -"
    return (f"{model:<9} {s['accuracy_mean']:.4f} +- {s['accuracy_std']:.4f}   {s['oof_accuracy']:.4f}   "
            f"{blog}   {format_seconds(wall):>9}   {np.mean(epochs) if epochs else 0:7.1f}  {per_epoch}   {run.path}")


def _histories(run):
    return list(json.loads((run.path / "histories.json").read_text()).values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/fashion-mnist"))
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=87)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--param", type=model_param, action="append", default=[], metavar="MODEL:NAME=VALUE")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    args = parser.parse_args()
    comp = load_competition(args.data)
    print(f"{comp.name}: {len(comp.y_train):,} train rows, {args.folds} folds, seed {args.seed}\n", flush=True)
    lines = []
    for model in args.models:
        params = {name: value for m, name, value in args.param if m == model}
        start = time.perf_counter()
        run = run_cv(model, comp, n_folds=args.folds, seed=args.seed, params=params,
                             limit=args.limit, runs_dir=args.runs_dir)
        lines.append(row(model, run, time.perf_counter() - start))
        print(lines[-1], flush=True)
    print("\nmodel     CV accuracy         OOF      blog    wall time   epochs/rounds  s/epoch   run")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
