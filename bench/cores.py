"""Benchmark: where the CNN's second core goes, what two folds side by side buy, and which Keras
backend trains it fastest.

    python bench/cores.py [--data data/fashion-mnist] [--epochs 8] [--rows 48000] [--backends jax torch]

The default ``cnn`` trains for --epochs epochs on --rows training rows of fold 0, in fresh
processes so that TensorFlow's thread pools are set before it starts. An epoch is timed from its
start to the next one's, so the work between ``fit`` calls counts; the first two epochs are left
out (Keras traces the training step in the first ``fit`` and again in the second), and the last,
whose end has no next start:

1. one process with TensorFlow's default threads: what ``cv`` and ``make submit`` do (the baseline);
2. one process with one thread (``TF_NUM_INTRAOP_THREADS=1``, ``TF_NUM_INTEROP_THREADS=1``);
3. two such one-thread processes at once: two folds side by side, as ``--workers 2`` runs them;
4. one process on each other Keras backend installed (JAX, PyTorch; ``KERAS_BACKEND``), its own
   default threads: what ``make submit`` would do where that backend alone is installed.

For each: training samples per second (summed over the processes), the cores it kept busy (CPU
time over wall time), the time spent making each epoch's shuffled and augmented copy on the host
(one NumPy thread, beside the training since it overlaps it) as a share of an epoch, and the
throughput against the baseline's.
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
from competition.extras import installed  # noqa: E402
from competition.models.backend import KERAS_BACKENDS  # noqa: E402

ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def child(args) -> None:
    """Train and print one JSON line: steady epochs' seconds, CPU seconds and augmentation seconds."""
    from competition.data.loader import load_competition
    from competition.cv.folds import fold_rows, make_folds
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
        """An epoch, as the loop lives it: from one epoch's start to the next one's, so the host's
        work between ``fit`` calls (waiting for augmentation, Keras' set-up and tear-down) counts."""

        def on_epoch_begin(self, epoch, logs=None):
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            epochs.append((time.perf_counter(), cpu.ru_utime + cpu.ru_stime))

    model = make_model("cnn", epochs=args.epochs, verbose=0)
    model._callbacks = lambda: [Watch()]
    model.fit(comp.x_train[train], comp.y_train[train])
    (wall_start, cpu_start), (wall_end, cpu_end) = epochs[2], epochs[-1]  # the first two trace: left out
    steady = len(epochs) - 3
    print(json.dumps({"rows": len(train), "epoch_seconds": (wall_end - wall_start) / steady,
                      "cores_busy": (cpu_end - cpu_start) / (wall_end - wall_start),
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
    parser.add_argument("--epochs", type=int, default=8, help="epochs per process (the first two and the last are "
                        "left out)")
    parser.add_argument("--rows", type=int, default=48_000, help="training rows of fold 0")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backends", nargs="*", metavar="NAME", default=None,
                        help="the other Keras backends to time (default: every one installed of jax, torch)")
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    tensorflow = {"KERAS_BACKEND": "tensorflow"}  # whatever the caller's environment says
    setups = [("1 process, TensorFlow's default threads (baseline)", 1, tensorflow),
              ("1 process, 1 thread", 1, {**tensorflow, **ONE_THREAD}),
              ("2 processes side by side, 1 thread each", 2, {**tensorflow, **ONE_THREAD})]
    others = [name for name in KERAS_BACKENDS[1:] if installed(name)] if args.backends is None else args.backends
    setups += [(f"1 process, Keras on {name}, its default threads", 1, {"KERAS_BACKEND": name}) for name in others]
    print(f"cnn, {args.rows:,} rows of fold 0, epochs 3..{args.epochs - 1} of each process, {os.cpu_count()} cores")
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
