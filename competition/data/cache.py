"""The loader's on-disk cache: decoded arrays kept in ``<competition>/.cache`` while the files last.

Decoding 70,000 PNGs takes about half a second even in parallel; mapping two ``.npy`` files
takes a millisecond. The cache holds the arrays, the ids and labels, and a key: the size and
modification time of both CSVs, both image folders and (for ``verify="full"``) every image. Any
change to those and the cache is rebuilt; the cache is built in a temporary folder and renamed
into place, so a crash never leaves a half-written one (and the next build sweeps what a killed one
left). The cache checks itself too: the size and modification time of its own files and the shapes
of its arrays, so a cache file replaced or truncated by hand is rebuilt, never served.
Loads and builds of one folder take a lock (``.cache.lock``): concurrent loaders wait for one
build and then share it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from .. import workers
from ..fsutil import lock, release_work_dir, replace_dir, save_npy_atomic, sweep_stale, work_dir, write_json_atomic
from .records import Competition, Layout

CACHE_VERSION = 2
FOLDER = ".cache"
LOCK = ".cache.lock"
PIXELS = "pixels.npy"  # train images then test images, (n_train + n_test, H, W, C) uint8
ARRAYS = ("y_train", "train_ids", "test_ids", "classes")
VERIFY_MODES = ("full", "quick")
_PARALLEL_STATS = 20_000


def folder_key(layout: Layout) -> dict:
    """Size and mtime of both CSVs and both image folders (a folder's mtime moves when an image is
    added, removed or renamed)."""
    parts = {"train.csv": layout.train_csv, "test_sample.csv": layout.sample_csv,
             "images/train": layout.train_images, "images/test": layout.test_images}
    key = {}
    for name, path in parts.items():
        st = path.stat()
        key[name] = [st.st_size, st.st_mtime_ns]
    return key


def stat_images(folder: Path, ids: list[str]) -> np.ndarray | None:
    """``(size, mtime_ns)`` of ``folder/{id}.png`` for each id, or None if one is gone."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        stats = [os.stat(f"{image_id}.png", dir_fd=fd) for image_id in ids]
    except FileNotFoundError:
        return None
    finally:
        os.close(fd)
    return np.array([(st.st_size, st.st_mtime_ns) for st in stats], dtype=np.int64).reshape(-1, 2)


def stat_all_images(layout: Layout, train_ids: np.ndarray, test_ids: np.ndarray) -> np.ndarray | None:
    """``stat_images`` of train then test images, in two processes when there are many (a stat costs
    ~2 us here, mostly in the kernel, so this halves the check of a 70,000-image cache)."""
    jobs = [(layout.train_images, train_ids.tolist()), (layout.test_images, test_ids.tolist())]
    if len(train_ids) + len(test_ids) >= _PARALLEL_STATS:
        half = len(jobs[0][1]) // 2
        jobs = [(jobs[0][0], jobs[0][1][:half]), (jobs[0][0], jobs[0][1][half:]), jobs[1]]
        try:
            with workers.pool(2) as pool:
                parts = list(pool.map(stat_images, *zip(*jobs)))
        except BrokenProcessPool:  # a killed worker: the cache cannot prove itself current
            return None
    else:
        parts = [stat_images(*job) for job in jobs]
    return None if any(part is None for part in parts) else np.concatenate(parts)


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(array).data)
    return h.hexdigest()


def fingerprint(layout: Layout, x_train: np.ndarray, x_test: np.ndarray) -> str:
    """sha256 of both CSVs and every pixel: identifies the data a model was trained on."""
    h = hashlib.sha256()
    for path in (layout.train_csv, layout.sample_csv):
        h.update(path.read_bytes())
    for array in (x_train, x_test):
        h.update(np.ascontiguousarray(array).data)
    return h.hexdigest()


def file_stats(folder: Path) -> dict[str, list[int]]:
    """Size and mtime of the cache's own array files: a file swapped in by hand changes them."""
    names = [PIXELS] + [f"{name}.npy" for name in ARRAYS]
    return {name: [(folder / name).stat().st_size, (folder / name).stat().st_mtime_ns] for name in names}


def consistent(arrays: dict, pixels: np.ndarray, meta: dict) -> bool:
    """Whether the cached arrays fit each other and the key: one label per train id, classes = the
    labels' set, one uint8 image of the recorded (H, W, C) per train and test id."""
    n_train, n_test = len(arrays["train_ids"]), len(arrays["test_ids"])
    return (pixels.dtype == np.uint8 and pixels.shape == (n_train + n_test, *meta.get("image_shape", [-1]))
            and arrays["y_train"].shape == (n_train,) and arrays["test_ids"].ndim == 1
            and np.array_equal(arrays["classes"], np.unique(arrays["y_train"])))


@contextmanager
def locked(layout: Layout) -> Iterator[None]:
    """Hold the folder's cache lock, if the folder is writable (a read-only one is loaded unlocked)."""
    try:
        guard = lock(layout.root / LOCK)
        guard.acquire()
    except OSError:
        yield
        return
    try:
        yield
    finally:
        guard.release()


def load(layout: Layout, verify: str = "full") -> dict | None:
    """The cached fields of a ``Competition`` if the cache is current, else None."""
    if verify not in VERIFY_MODES:
        raise ValueError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")
    folder = layout.root / FOLDER
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if (meta.get("version") != CACHE_VERSION or meta["key"] != folder_key(layout)
                or meta["files"] != file_stats(folder)):
            return None
        arrays = {name: np.load(folder / f"{name}.npy") for name in ARRAYS}
        pixels = np.load(folder / PIXELS, mmap_mode="c")  # mapped, not read: edits stay in memory
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None  # no cache, or one we cannot read: rebuild it
    if not consistent(arrays, pixels, meta):
        return None
    if verify == "full":
        stats = stat_all_images(layout, arrays["train_ids"], arrays["test_ids"])
        if stats is None or digest(stats) != meta["images"]:
            return None
    n_train = len(arrays["train_ids"])
    return {**arrays, "x_train": pixels[:n_train], "x_test": pixels[n_train:],
            "id_column": meta["id_column"], "label_column": meta["label_column"],
            "fingerprint": meta["fingerprint"], "warnings": list(meta["warnings"])}


class builder:
    """Context for building a cache: ``folder`` receives arrays while they are decoded (None when
    caching is off or impossible); ``save`` completes and installs it."""

    def __init__(self, layout: Layout, enabled: bool = True):
        self.layout, self.folder, self.status = layout, None, "off (disabled)"
        if enabled:
            try:
                sweep_stale(layout.root, FOLDER)  # what a killed build left
                self.folder = work_dir(layout.root, FOLDER)
            except OSError as exc:
                self.status = f"off ({layout.root} not writable: {exc.strerror})"

    def __enter__(self) -> builder:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.folder is not None:
            release_work_dir(self.folder)
            shutil.rmtree(self.folder, ignore_errors=True)

    def save(self, competition: Competition, stats: np.ndarray) -> str:
        """Write the remaining arrays and the key, and move the cache into place; the status."""
        if self.folder is None:
            return self.status
        for name in ARRAYS:
            if not (self.folder / f"{name}.npy").exists():
                save_npy_atomic(self.folder / f"{name}.npy", np.asarray(getattr(competition, name)))
        write_json_atomic(self.folder / "meta.json", {
            "version": CACHE_VERSION,
            "key": folder_key(self.layout),
            "images": digest(stats),
            "fingerprint": competition.fingerprint,
            "id_column": competition.id_column,
            "label_column": competition.label_column,
            "warnings": competition.warnings,
            "files": file_stats(self.folder),
            "image_shape": list(competition.image_shape),
        })
        release_work_dir(self.folder)
        final = self.layout.root / FOLDER
        if final.exists() and not (final / "meta.json").is_file():
            return f"off ({final} exists and is not a cache of this toolkit; left untouched)"
        replace_dir(self.folder, final)
        return "built"
