"""Benchmark: ``prepare --images`` on a folder of JPEGs of mixed sizes, against a plain Pillow loop.

    python bench/prepare.py [--limit 70000] [--baseline 5000] [--keep DIR]

The folder: Fashion-MNIST's 70,000 images written as JPEGs (quality 90) in class sub-folders, a
third each at 28x28, 56x56 and 112x112 (so that decoding at reduced size, Pillow's ``draft``, has
work to save). Measured in the same run:

- baseline: one core, a plain loop over the first ``--baseline`` files: open, convert to L,
  resize to 28x28, save PNG;
- floor: all cores, read and decode every file at full size (no resizing, no writing);
- ours: ``prepare_images(--size 28x28)`` end to end: headers, decode, fit, PNG, the leak check,
  the split, the CSVs.

Images per second for each, and ours against the baseline, are printed last.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from competition.prepare.fashion import FASHION_NAMES, load_source
from competition.prepare.own_images import prepare_images  # noqa: E402

SIDES = (28, 56, 112)


def _write(job: tuple[Path, list[int], np.ndarray, np.ndarray]) -> int:
    root, rows, images, labels = job
    for row, image, label in zip(rows, images, labels):
        side = SIDES[row % len(SIDES)]
        picture = Image.fromarray(image)
        if side != 28:
            picture = picture.resize((side, side), Image.Resampling.BICUBIC)
        picture.save(root / FASHION_NAMES[label].replace("/", "-") / f"{row}.jpg", quality=90)
    return len(rows)


def write_folder(root: Path, limit: int) -> list[str]:
    arrays = load_source(None)
    x = np.concatenate([arrays["x_train"], arrays["x_test"]])[:limit]
    y = np.concatenate([arrays["y_train"], arrays["y_test"]])[:limit]
    for name in FASHION_NAMES:
        (root / name.replace("/", "-")).mkdir(parents=True, exist_ok=True)
    step = 2000
    jobs = [(root, list(range(i, min(i + step, len(x)))), x[i:i + step], y[i:i + step]) for i in range(0, len(x), step)]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_write, jobs))
    return sorted(str(p) for p in root.rglob("*.jpg"))


def plain_loop(paths: list[str], out: Path) -> None:
    out.mkdir()
    for i, path in enumerate(paths):
        Image.open(path).convert("L").resize((28, 28), Image.Resampling.LANCZOS).save(out / f"{i}.png")


def _decode(paths: list[str]) -> int:
    for path in paths:
        with Image.open(path) as image:
            image.load()
    return len(paths)


def decode_floor(paths: list[str]) -> None:
    cores = os.cpu_count()
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(_decode, [paths[i::cores] for i in range(cores)]))


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=70_000, help="images in the folder (default 70000)")
    parser.add_argument("--baseline", type=int, default=5000, help="files the one-core loop times (default 5000)")
    parser.add_argument("--keep", type=Path, help="write the folder here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-prepare-"))
    root = args.keep or work / "photos"
    try:
        seconds = timed(lambda: write_folder(root, args.limit))
        paths = sorted(str(p) for p in root.rglob("*.jpg"))
        print(f"folder: {len(paths):,} JPEGs at {'/'.join(map(str, SIDES))} px in {root} (written in {seconds:.1f} s)")
        sample = paths[:: max(1, len(paths) // args.baseline)][: args.baseline]
        baseline = timed(lambda: plain_loop(sample, work / "plain"))
        floor = timed(lambda: decode_floor(paths))
        ours = timed(lambda: prepare_images(root, work / "competition", size=(28, 28), mode="L"))
        cores = os.cpu_count()
        print(f"baseline  plain Pillow loop, 1 core   {len(sample) / baseline:8,.0f} images/s  ({len(sample):,} files)")
        print(f"floor     read + decode, {cores} cores     {len(paths) / floor:8,.0f} images/s")
        print(f"ours      prepare --images, {cores} cores  {len(paths) / ours:8,.0f} images/s  "
              f"({ours:.1f} s for {len(paths):,})")
        print(f"ours / baseline {(len(paths) / ours) / (len(sample) / baseline):.2f}x; "
              f"ours / floor {(len(paths) / ours) / (len(paths) / floor):.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
