"""What goes into a new competition folder: the PNGs (in worker processes), train.csv,
test_sample.csv, classes.csv, the answer key and ``competition.json``. Every source ends here, so
that a folder built from Fashion-MNIST and one built from the host's images read the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from .. import workers
from ..data import overview as overview_file
from ..data.records import Layout
from ..fsutil import write_bytes_atomic
from . import sources
from .errors import PrepareError

if TYPE_CHECKING:  # pandas is imported where a table is made, not when a command reads its options
    import pandas as pd


CHUNK = 500  # PNGs a worker writes per job: Ctrl-C waits for at most one job per worker


def _write_pngs(job: tuple[Path, list[str], np.ndarray]) -> list[str]:
    folder, ids, images = job
    for image_id, image in zip(ids, images):
        sources.write_png(str(folder / f"{image_id}.png"), image)
    return ids


def in_workers(function: Callable[[Any], list], jobs: list, bar: tqdm, where: Path) -> list:
    """``function`` over ``jobs`` in worker processes on every core, results in order; each job's
    result is a list, one item per image, and ``bar`` advances by its length."""
    results = []
    try:
        with workers.pool(os.cpu_count()) as pool:
            for result in pool.map(function, jobs):
                bar.update(len(result))
                results += result
    except BrokenProcessPool:
        raise PrepareError(f"{where}: a worker process died (killed, or out of memory); "
                           "nothing was replaced, run prepare again") from None
    return results


def write_images(folder: Path, ids: list[str], images: np.ndarray, bar: tqdm) -> None:
    """Write ``images[i]`` as ``folder/ids[i].png`` (8-bit), in worker processes over chunks."""
    folder.mkdir(parents=True)
    jobs = [(folder, ids[i : i + CHUNK], images[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)]
    in_workers(_write_pngs, jobs, bar, folder)


def write_competition(layout: Layout, train: pd.DataFrame, test: pd.DataFrame, declared: overview_file.Overview,
                      class_names: list[str] | None = None) -> None:
    """The tables of a competition whose images are written, where the loader and the grader read
    them (``layout``): ``train`` (``id,class``, in train.csv's order) and ``test`` (``id,class,Usage``)
    give train.csv, test_sample.csv (ids in numeric order, one placeholder class), classes.csv when
    ``class_names`` and the answer key solution.csv (the host's alone: 0600); then ``competition.json``
    in both folders (``write_overview``). Every source ends here."""
    import pandas as pd

    train.to_csv(layout.train_csv, index=False)
    test = test.iloc[np.argsort(test["id"].astype(np.int64).to_numpy(), kind="stable")]
    placeholder = min(train["class"].tolist())
    pd.DataFrame({"id": test["id"], "class": placeholder}).to_csv(layout.sample_csv, index=False)
    if class_names:
        pd.DataFrame({"class": range(len(class_names)), "name": class_names}).to_csv(layout.classes_csv, index=False)
    check_usage(test["Usage"].to_numpy())
    layout.grader.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(layout.solution_csv, test[["id", "class", "Usage"]].to_csv(index=False).encode(), secret=True)
    write_overview(layout, declared)


def write_overview(layout: Layout, declared: overview_file.Overview) -> None:
    """Write ``competition.json`` in both folders; a probability metric's sample gets one column
    per class (headed as train.csv writes the class), each row the uniform guess, as Kaggle's do."""
    import pandas as pd

    for folder in (layout.root, layout.grader):
        overview_file.write(folder, declared)
    if declared.probabilities:
        sample = pd.read_csv(layout.sample_csv, dtype=str, keep_default_na=False)
        classes = np.unique(pd.read_csv(layout.train_csv)["class"]).tolist()
        uniform = pd.DataFrame({str(c): 1 / len(classes) for c in classes}, index=sample.index)
        pd.concat([sample[["id"]], uniform], axis=1).to_csv(layout.sample_csv, index=False)


def check_usage(usage: np.ndarray) -> None:
    """The key needs Public and Private rows: a board needs the one, the final ranking the other."""
    n_public = int((usage == "Public").sum())
    if n_public == 0 or n_public == len(usage):
        raise PrepareError(f"{len(usage):,} test rows give {n_public:,} Public and {len(usage) - n_public:,} Private "
                           "rows; the answer key needs both: change --public or the test size")
