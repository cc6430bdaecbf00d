"""Benchmark: where the CNN's second core goes, and what two folds side by side buy.

    python bench/cores.py [--data data/fashion-mnist] [--epochs 3] [--rows 48000]

The default ``cnn`` trains for --epochs epochs on --rows training rows of fold 0 (the first epoch,
with its tracing, is left out of the figures), in fresh processes so that TensorFlow's thread
pools are set before it starts:

1. one process with TensorFlow's default threads: what ``cv`` and ``make submit`` do (the baseline);
2. one process with one thread (``TF_NUM_INTRAOP_THREADS=1``, ``TF_NUM_INTEROP_THREADS=1``);
3. two such one-thread processes at once: two folds side by side, as ``--workers 2`` runs them.

For each: training samples per second (summed over the processes), the cores it kept busy (CPU
time over wall time) and the share of each epoch spent augmenting on the host (one thread, NumPy),
and the throughput against the baseline's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def child(args) -> None:
    """Train and print one JSON line: steady epochs' seconds, CPU seconds and augmentation seconds."""
    from competition.data import load_competition
    from competition.folds import fold_rows, make_folds
    from competition.models import make_model
    from competition.models import networks

    comp = load_competition(args.data)
    train, _ = fold_rows(make_folds(comp.y_train, 5, 87), 0)
    train = train[:args.rows]
    augmenting, epochs = [], []
    real_augment = networks.augment

    def timed_augment(*a, **k):
        start = time.perf_counter()
        out = real_augment(*a, **k)
        augmenting.append(time.perf_counter() - start)
        return out

    networks.augment = timed_augment

    class Watch(networks.import_keras().callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.wall, self.cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)

        def on_epoch_end(self, epoch, logs=None):
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            epochs.append((time.perf_counter() - self.wall,
                           cpu.ru_utime + cpu.ru_stime - self.cpu.ru_utime - self.cpu.ru_stime))

    model = make_model("cnn", epochs=args.epochs, verbose=0)
    model._callbacks = lambda: [Watch()]
    model.fit(comp.x_train[train], comp.y_train[train])
    steady = epochs[1:]
    print(json.dumps({"rows": len(train), "epoch_seconds": float(np.mean([w for w, _ in steady])),
                      "cores_busy": float(sum(c for _, c in steady) / sum(w for w, _ in steady)),
                      "augment_seconds": float(np.mean(augmenting[1:]))}))


def measure(args, processes: int, env: dict) -> dict:
    command = [sys.executable, __file__, "--child", "--data", str(args.data), "--epochs", str(args.epochs),
               "--rows", str(args.rows)]
    started = time.perf_counter()
    running = [subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
               for _ in range(processes)]
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in running]
    if any(p.returncode for p in running):
        sys.exit("a training process failed")
    return {"samples_per_second": sum(r["rows"] / r["epoch_seconds"] for r in results),
            "cores_busy": sum(r["cores_busy"] for r in results),
            "augment_share": float(np.mean([r["augment_seconds"] / r["epoch_seconds"] for r in results])),
            "epoch_seconds": float(np.mean([r["epoch_seconds"] for r in results])),
            "wall": time.perf_counter() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/fashion-mnist"))
    parser.add_argument("--epochs", type=int, default=3, help="epochs per process (the first is left out)")
    parser.add_argument("--rows", type=int, default=48_000, help="training rows of fold 0")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    setups = [("1 process, TensorFlow's default threads (baseline)", 1, {}),
              ("1 process, 1 thread", 1, ONE_THREAD),
              ("2 processes side by side, 1 thread each", 2, ONE_THREAD)]
    print(f"cnn, {args.rows:,} rows of fold 0, epochs 2..{args.epochs} of each process, {os.cpu_count()} cores")
    base = None
    for label, processes, env in setups:
        r = measure(args, processes, env)
        base = base or r["samples_per_second"]
        print(f"{label:<52} {r['samples_per_second']:7.0f} samples/s  {r['epoch_seconds']:5.1f} s/epoch  "
              f"cores busy {r['cores_busy']:.2f}  augmenting {100 * r['augment_share']:4.1f}% of an epoch  "
              f"{r['samples_per_second'] / base:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
