"""The Fashion-MNIST build: the four IDX arrays (Debian's package, ``--source``, or Keras' downloader)
checked and written as a competition, train as given and test under seeded ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import cli, extras
from ..data import metrics
from ..data import overview as overview_file
from ..data.records import Layout
from .errors import PrepareError
from .folder import FORMAT, build_once, resolve_out
from .idx import find_idx, read_idx
from .splits import PUBLIC_FRACTION, usage
from .write import check_usage, write_competition, write_images

# The one place the data set's location is written down: Debian's package dataset-fashion-mnist.
DEBIAN_SOURCE = Path("/usr/share/datasets/fashion-mnist")


IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]


def load_source(source: Path | None) -> dict[str, np.ndarray]:
    """The four Fashion-MNIST arrays, from ``source``, Debian's package, or Keras' downloader."""
    for directory in [source] if source else [DEBIAN_SOURCE]:
        if directory and directory.is_dir():
            return {key: read_idx(find_idx(directory, stem)) for key, stem in IDX_FILES.items()}
    if source:
        raise PrepareError(f"--source {source}: not a folder")
    print(f"{DEBIAN_SOURCE} not found (apt-get install dataset-fashion-mnist); trying Keras' downloader")
    extras.require("keras", f"downloading Fashion-MNIST (no {DEBIAN_SOURCE})")  # needs internet: a fallback only
    from keras.datasets import fashion_mnist

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def check_arrays(arrays: dict[str, np.ndarray], source: str) -> None:
    """Images ``(N, H, W)`` or ``(N, H, W, C)`` uint8 and one label per image: a source whose label
    and image files disagree would otherwise give every image another one's label."""
    for part in ("train", "test"):
        images, labels = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if images.ndim not in (3, 4) or images.dtype != np.uint8:
            raise PrepareError(f"{source}: {part} images are {images.dtype} of shape {images.shape}, "
                               "expected uint8 (N, H, W) or (N, H, W, C)")
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise PrepareError(f"{source}: {part} labels are {labels.dtype} of shape {labels.shape}, "
                               "expected N integers")
        if len(images) != len(labels):
            raise PrepareError(f"{source}: {len(images):,} {part} images but {len(labels):,} {part} labels "
                               "(the image and label files do not belong together)")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise PrepareError(f"{source}: train images are {arrays['x_train'].shape[1:]}, test images "
                           f"{arrays['x_test'].shape[1:]}")


def check_class_names(names: list[str], labels: np.ndarray) -> None:
    """``names[k]`` names label ``k``: one distinct, non-blank name for each label 0..K-1."""
    blank = [k for k, name in enumerate(names) if not name]
    if blank:
        raise PrepareError(f"--class-names: name {blank[0] + 1} is blank")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PrepareError(f"--class-names: {repeated[0]!r} is given twice")
    found = np.unique(labels)
    if len(names) != len(found) or not np.array_equal(found, np.arange(len(names))):
        shown = f"{found[0]}..{found[-1]}" if len(found) > 1 else str(found[0])
        raise PrepareError(f"--class-names: {len(names)} names, but the labels are {len(found)} classes "
                           f"({shown}); give one name per label 0..K-1")


def build(arrays: dict[str, np.ndarray], layout: Layout, seed: int,
          class_names: list[str] | None = None, public_fraction: float = PUBLIC_FRACTION,
          declared: overview_file.Overview | None = None) -> None:
    """Write the competitor's folder and the answer key (to fresh, not yet existing folders)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    n_train, n_test = len(arrays["x_train"]), len(arrays["x_test"])
    train_ids = [str(i) for i in range(n_train)]
    test_ids = [str(i) for i in rng.permutation(n_test)]  # test image j is called test_ids[j]
    public = np.zeros(n_test, dtype=bool)
    public[rng.choice(n_test, size=round(public_fraction * n_test), replace=False)] = True
    check_usage(usage(public))  # before any image is written

    with tqdm(total=n_train + n_test, desc="writing PNGs", unit="img") as bar:
        write_images(layout.train_images, train_ids, arrays["x_train"], bar)
        write_images(layout.test_images, test_ids, arrays["x_test"], bar)
    write_competition(layout, pd.DataFrame({"id": train_ids, "class": arrays["y_train"]}),
                      pd.DataFrame({"id": test_ids, "class": arrays["y_test"], "Usage": usage(public)}),
                      declared or overview_file.declare(metrics.DEFAULT, layout.root.name, public_fraction),
                      class_names)


def prepare(out: Path, source: Path | None = None, limit_train: int | None = None,
            limit_test: int | None = None, seed: int = 0, class_names: list[str] | None = None,
            public: float = PUBLIC_FRACTION, title: str | None = None, metric: str = metrics.DEFAULT) -> Path:
    """Build ``out`` and ``out.grader`` from Fashion-MNIST unless an identical build is already there;
    return ``out``. ``metric`` and ``title`` are declared in ``competition.json``."""
    out = resolve_out(out)
    if class_names is None and source is None:
        class_names = FASHION_NAMES  # another --source (MNIST digits, say) gets names only when given
    for name, limit in (("--limit-train", limit_train), ("--limit-test", limit_test)):
        cli.at_least(name, limit, error=PrepareError)
    recipe = {"format": FORMAT, "source": str(source or DEBIAN_SOURCE), "limit_train": limit_train,
              "limit_test": limit_test, "seed": seed, "class_names": class_names, "public": public, "title": title,
              "metric": metric}
    declared = overview_file.declare(metric, title or out.name, public)

    def make(layout: Layout, scratch: Path) -> str:
        arrays = load_source(source)
        check_arrays(arrays, str(source or DEBIAN_SOURCE))
        if class_names:  # against the whole source: a --limit slice may lack a class
            check_class_names(class_names, np.concatenate([arrays["y_train"], arrays["y_test"]]))
        x_train, y_train = arrays["x_train"][:limit_train], arrays["y_train"][:limit_train]
        x_test, y_test = arrays["x_test"][:limit_test], arrays["y_test"][:limit_test]
        build({"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, layout, seed,
              class_names, public, declared)
        return (f"wrote {out} ({len(x_train)} train, {len(x_test)} test images) "
                f"and the answer key {Layout(out).solution_csv}")

    return build_once(out, recipe, make)
