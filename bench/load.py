"""Benchmark: load a competition folder with ``load_competition`` against the seed's loop.

    python bench/load.py [--data data/fashion-mnist] [--repeat 3]

Baseline (measured in the same run): the blog post's loader, ``matplotlib.image.imread`` over
every file of train.csv and test_sample.csv, then ``np.array`` to stack. Then our loader cold
(no cache: parallel decode, validation, cache written) and cached (``verify="full"``, the default,
checks every image's size and mtime; ``verify="quick"`` only the CSVs and folders). Floors: the
time just to stat every file (what a full cache check must do), to open and read it, and to read
and inflate it, on all cores. The two ratios
against the baseline are printed last.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from competition.data.cache import FOLDER  # noqa: E402
from competition.data.loader import load_competition, read_tables  # noqa: E402
from competition.data.images import _read, _split_png  # noqa: E402
from competition.data.records import Layout  # noqa: E402


def seed_loader(layout: Layout, tables: dict) -> tuple[np.ndarray, np.ndarray]:
    """The blog's loop: mpimg.imread of each file, then np.array."""
    import matplotlib.image as mpimg

    train_path, test_path = f"{layout.train_images}/", f"{layout.test_images}/"
    x_train = np.array([mpimg.imread(train_path + str(i) + ".png") for i in tables["train_ids"]])
    x_test = np.array([mpimg.imread(test_path + str(i) + ".png") for i in tables["test_ids"]])
    return x_train, x_test


def _read_only(paths: list[str]) -> int:
    return sum(len(_read(p)[0]) for p in paths)


def _stat_only(paths: list[str]) -> int:
    return sum(os.stat(p).st_size for p in paths)


def _read_inflate(paths: list[str]) -> int:
    return sum(len(_split_png(_read(p)[0], p)[1]) for p in paths)


def on_all_cores(work, paths: list[str]) -> None:
    cores = len(os.sched_getaffinity(0))
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(work, [paths[i::cores] for i in range(cores)]))


def best_of(repeat: int, run) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/fashion-mnist"))
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best is kept")
    args = parser.parse_args()
    if not args.data.is_dir():
        from competition.prepare.fashion import prepare

        prepare(args.data)
    layout = Layout(args.data)
    tables = read_tables(layout)
    paths = [f"{layout.train_images}/{i}.png" for i in tables["train_ids"]]
    paths += [f"{layout.test_images}/{i}.png" for i in tables["test_ids"]]
    n = len(paths)
    print(f"{args.data}: {n:,} PNGs, {len(os.sched_getaffinity(0))} cores, best of {args.repeat} runs\n")

    # Ours first, so that these processes do not fork while holding the baseline's 200 MB of floats.
    cache_dir = layout.root / FOLDER
    loaded = {}

    def cold():
        shutil.rmtree(cache_dir, ignore_errors=True)
        loaded["ours"] = load_competition(args.data)

    cold_time = best_of(args.repeat, cold)
    cached = best_of(args.repeat * 2, lambda: load_competition(args.data))
    quick = best_of(args.repeat * 2, lambda: load_competition(args.data, verify="quick"))
    stat_floor = best_of(args.repeat, lambda: on_all_cores(_stat_only, paths))
    read_floor = best_of(args.repeat, lambda: on_all_cores(_read_only, paths))
    inflate_floor = best_of(args.repeat, lambda: on_all_cores(_read_inflate, paths))
    baseline = best_of(max(1, args.repeat - 1), lambda: loaded.update(zip("ab", seed_loader(layout, tables))))
    ours = loaded["ours"]
    same = np.array_equal(np.round(loaded["a"] * 255).astype(np.uint8).reshape(ours.x_train.shape), ours.x_train)

    rows = [
        ("baseline: mpimg.imread loop + np.array", baseline),
        ("floor: stat every file, all cores", stat_floor),
        ("floor: open+read every file, all cores", read_floor),
        ("floor: read + inflate every file, all cores", inflate_floor),
        ("cold load (decode, validate, write cache)", cold_time),
        ("cached load, verify='full' (stat every image)", cached),
        ("cached load, verify='quick' (CSVs + folders)", quick),
    ]
    for label, seconds in rows:
        print(f"{label:<48} {seconds:8.3f} s  {seconds / n * 1e6:7.2f} us/image  {baseline / seconds:8.1f}x")
    print(f"\npixels identical to the baseline's: {same}")
    print(f"cold load   {baseline / cold_time:.1f}x faster than the baseline (target 10x)")
    print(f"cached load {baseline / cached:.1f}x faster than the baseline (target 150x; quick verify: "
          f"{baseline / quick:.0f}x)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
