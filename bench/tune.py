"""Benchmark: an Optuna study of a fixed time budget per model, against the model's defaults.

    python bench/tune.py [--data data/fashion-mnist] [--models lgbm cnn] [--timeout 3600] [--folds 5]
                         [--seed 87] [--limit N] [--runs-dir runs] [--workers N]

Per model, on the same folds: the defaults' CV accuracy (a matching finished run is reused, else
cross-validated first, outside the budget), then ``competition.tune`` for --timeout seconds (no
trial starts after it; the one running finishes), and prints the best CV accuracy against the
defaults', the trials this session started, completed and pruned (the share pruned), the wall
time and the best run folder. The studies are ordinary ones under RUNS/studies/: running the bench
again continues them (the counts are this session's, the best is the whole study's).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from competition import runs  # noqa: E402
from competition.cv import cluster  # noqa: E402
from competition.cv.obtain import obtain_run  # noqa: E402
from competition.data.loader import load_competition  # noqa: E402
from competition.runs import format_seconds  # noqa: E402
from competition.tune import tune  # noqa: E402

DEFAULT_MODELS = ["lgbm", "cnn"]


def defaults_run(model: str, comp, args, executor) -> runs.Run:
    """The defaults' run on the bench's folds (outside the budget): reused when one exists, else
    cross-validated."""
    got = obtain_run(model, comp, n_folds=args.folds, seed=args.seed, limit=args.limit, runs_dir=args.runs_dir,
                     executor=executor, say=lambda text: print(f"{model}: {text}", flush=True))
    return got.run


def row(model: str, defaults: runs.Run, tuned, started: int, wall: float) -> str:
    session = tuned.study.trials[started:]
    states = [t.state.name for t in session]
    pruned, completed = states.count("PRUNED"), states.count("COMPLETE")
    base = defaults.scores["accuracy_mean"]
    best = tuned.best.value if tuned.best else float("nan")
    share = f"{pruned / len(session):.0%}" if session else "-"
    return (f"{model:<7} {base:.4f}    {best:.4f}  {best - base:+.4f}  {len(session):6d}  {completed:9d}  {pruned:6d}  "
            f"{share:>6}  {format_seconds(wall):>9}   {tuned.run.path if tuned.run else '-'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/fashion-mnist"))
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds of trials per model (default 3600)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=87)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--workers", type=int, default=None, help="each trial's folds on a local Dask cluster")
    args = parser.parse_args()
    comp = load_competition(args.data)
    rows = f"{args.limit:,} of {len(comp.y_train):,}" if args.limit else f"{len(comp.y_train):,}"
    print(f"{comp.name}: {rows} train rows, {args.folds} folds, seed {args.seed}, {args.timeout} s of trials per "
          "model\n", flush=True)
    lines = []
    with cluster.executor(args.workers, None) as executor:
        for model in args.models:
            defaults = defaults_run(model, comp, args, executor)
            start = time.perf_counter()
            tuned = tune(model, comp, n_folds=args.folds, seed=args.seed, limit=args.limit, n_trials=None,
                         timeout=args.timeout, runs_dir=args.runs_dir, executor=executor)
            lines.append(row(model, defaults, tuned, tuned.started, time.perf_counter() - start))
            print(lines[-1], flush=True)
    print("\nmodel   defaults  best CV  gain     trials  completed  pruned  pruned%  wall time   best run")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
