"""Benchmark: cross-validation in-process against a local Dask cluster of 1 and 2 workers.

    python bench/distributed.py [--data data/fashion-mnist] [--models rf lgbm] [--limit N]

For each model, in the same run: the in-process run (the model's own threads on every core: the
baseline), then a local cluster of 1 and of 2 single-thread worker processes (``cv --workers N``),
5 folds each: wall time, speed-up over 1 worker and over in-process, and whether the
probabilities equal the in-process run's. Last, the cluster's fixed cost on a tiny run (dt, 300
rows), start-up included.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# this file's own folder would shadow the ``distributed`` package it benchmarks: the repository instead
sys.path[0] = str(Path(__file__).resolve().parents[1])
from competition.cv import cluster  # noqa: E402
from competition.cv.obtain import run_cv  # noqa: E402
from competition.data.loader import load_competition  # noqa: E402

PARAMS = {"rf": {}, "lgbm": {}, "xgb": {}, "dt": {}}


def timed_run(model, comp, workers, limit, runs_dir):
    start = time.perf_counter()
    with cluster.executor(workers) as executor:
        run = run_cv(model, comp, n_folds=5, params=PARAMS.get(model), limit=limit, runs_dir=runs_dir,
                     progress=False, executor=executor)
    return time.perf_counter() - start, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/fashion-mnist"))
    parser.add_argument("--models", nargs="+", default=["rf", "lgbm"])
    parser.add_argument("--limit", type=int, default=None, help="a stratified sample of N training rows")
    args = parser.parse_args()
    comp = load_competition(args.data)
    rows = args.limit or len(comp.y_train)
    print(f"5-fold CV on {rows:,} rows, 2 cores")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            base, local = timed_run(model, comp, None, args.limit, Path(tmp) / f"{model}-here")
            times = {}
            for workers in (1, 2):
                times[workers], run = timed_run(model, comp, workers, args.limit, Path(tmp) / f"{model}-{workers}")
                same = np.allclose(run.oof(), local.oof(), equal_nan=True, atol=1e-12)
                print(f"{model:<5} {workers} worker(s): {times[workers]:7.1f} s   "
                      f"accuracy {run.scores['accuracy_mean']:.4f}"
                      f"   same probabilities as in-process: {same}")
            print(f"{model:<5} in-process (all cores): {base:7.1f} s   accuracy {local.scores['accuracy_mean']:.4f}")
            print(f"{model:<5} speed-up 2 workers vs 1: {times[1] / times[2]:.2f}x; 2 workers vs in-process: "
                  f"{base / times[2]:.2f}x")
        tiny = load_competition(args.data)
        here, _ = timed_run("dt", tiny, None, 300, Path(tmp) / "tiny-here")
        there, _ = timed_run("dt", tiny, 2, 300, Path(tmp) / "tiny-there")
        print(f"cluster overhead on a tiny run (dt, 300 rows, 5 folds): {there - here:.1f} s "
              f"({here:.2f} s in-process, {there:.2f} s on 2 workers, start-up included)")


if __name__ == "__main__":
    main()
