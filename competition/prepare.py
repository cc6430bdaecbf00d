"""Build a Kaggle-style competition folder from the real Fashion-MNIST.

    python -m competition.prepare [--source DIR] [--out data/fashion-mnist] [--limit-train N] ...

The competitor's folder gets ``images/train/{id}.png``, ``images/test/{id}.png``, ``train.csv``
(``id,class``), ``test_sample.csv`` (``id,class`` with a placeholder class) and, when the names
are known, ``classes.csv`` (``class,name``: what each label means, as Kaggle's data page would
say). The answer key goes
OUTSIDE that folder, to ``<out>.grader/solution.csv`` (``id,class,Usage``; ``Usage`` is ``Public``
for a seeded ~30% of the rows, ``Private`` for the rest), so a competitor can be handed the folder
alone. Test ids are a seeded permutation: the sample's row order says nothing about the labels.

Both folders are built beside their final place and renamed into it, so an interrupted run leaves
nothing half-written; a second run with the same arguments finds the work done and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .fsutil import replace_dir
from .idx import find_idx, read_idx

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
PUBLIC_FRACTION = 0.3
FORMAT = 2  # bumped when the folder's contents change, so that older builds are rebuilt
_CHUNK = 2000


def load_source(source: Path | None) -> dict[str, np.ndarray]:
    """The four Fashion-MNIST arrays, from ``source``, Debian's package, or Keras' downloader."""
    for directory in [source] if source else [DEBIAN_SOURCE]:
        if directory and directory.is_dir():
            return {key: read_idx(find_idx(directory, stem)) for key, stem in IDX_FILES.items()}
    if source:
        raise SystemExit(f"error: --source {source} is not a directory")
    print(f"{DEBIAN_SOURCE} not found (apt-get install dataset-fashion-mnist); trying Keras' downloader")
    from keras.datasets import fashion_mnist  # needs internet: a fallback only

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _write_pngs(job: tuple[Path, list[str], np.ndarray]) -> int:
    import cv2

    folder, ids, images = job
    for image_id, image in zip(ids, images):
        if not cv2.imwrite(str(folder / f"{image_id}.png"), image):
            raise OSError(f"could not write {folder / image_id}.png")
    return len(ids)


def write_images(folder: Path, ids: list[str], images: np.ndarray, bar: tqdm) -> None:
    """Write ``images[i]`` as ``folder/ids[i].png`` (8-bit), in worker processes over chunks."""
    folder.mkdir(parents=True)
    jobs = [(folder, ids[i : i + _CHUNK], images[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        for done in pool.map(_write_pngs, jobs):
            bar.update(done)


def build(arrays: dict[str, np.ndarray], competition: Path, grader: Path, seed: int,
          class_names: list[str] | None = None) -> None:
    """Write the competitor's folder and the answer key (to fresh, not yet existing folders)."""
    rng = np.random.default_rng(seed)
    n_train, n_test = len(arrays["x_train"]), len(arrays["x_test"])
    train_ids = [str(i) for i in range(n_train)]
    test_ids = [str(i) for i in rng.permutation(n_test)]  # test image j is called test_ids[j]
    public = np.zeros(n_test, dtype=bool)
    public[rng.choice(n_test, size=round(PUBLIC_FRACTION * n_test), replace=False)] = True

    with tqdm(total=n_train + n_test, desc="writing PNGs", unit="img") as bar:
        write_images(competition / "images" / "train", train_ids, arrays["x_train"], bar)
        write_images(competition / "images" / "test", test_ids, arrays["x_test"], bar)
    pd.DataFrame({"id": train_ids, "class": arrays["y_train"]}).to_csv(competition / "train.csv", index=False)
    order = np.argsort(np.array(test_ids, dtype=np.int64))  # the sample lists ids in numeric order
    sample_ids = [test_ids[j] for j in order]
    placeholder = int(np.min(arrays["y_train"]))
    pd.DataFrame({"id": sample_ids, "class": placeholder}).to_csv(competition / "test_sample.csv", index=False)
    if class_names:
        pd.DataFrame({"class": range(len(class_names)), "name": class_names}).to_csv(competition / "classes.csv",
                                                                                    index=False)
    grader.mkdir(parents=True)
    solution = pd.DataFrame(
        {"id": sample_ids, "class": arrays["y_test"][order], "Usage": np.where(public[order], "Public", "Private")}
    )
    solution.to_csv(grader / "solution.csv", index=False)


def prepare(out: Path, source: Path | None = None, limit_train: int | None = None,
            limit_test: int | None = None, seed: int = 0, class_names: list[str] | None = None) -> Path:
    """Build ``out`` and ``out.grader`` unless an identical build is already there; return ``out``."""
    out = Path(out)
    grader = out.with_name(out.name + ".grader")
    if class_names is None and source is None:
        class_names = FASHION_NAMES  # another --source (MNIST digits, say) gets names only when given
    recipe = {"format": FORMAT, "source": str(source or DEBIAN_SOURCE), "limit_train": limit_train,
              "limit_test": limit_test, "seed": seed, "class_names": class_names}
    record = grader / "prepare.json"
    if out.is_dir() and record.is_file() and json.loads(record.read_text()) == recipe:
        print(f"{out} is already prepared with these settings; nothing to do")
        return out
    arrays = load_source(source)
    arrays["x_train"], arrays["y_train"] = arrays["x_train"][:limit_train], arrays["y_train"][:limit_train]
    arrays["x_test"], arrays["y_test"] = arrays["x_test"][:limit_test], arrays["y_test"][:limit_test]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.building-") as tmp:
        new_out, new_grader = Path(tmp) / "competition", Path(tmp) / "grader"
        build(arrays, new_out, new_grader, seed, class_names)
        (new_grader / "prepare.json").write_text(json.dumps(recipe, indent=2) + "\n")
        replace_dir(new_out, out)
        replace_dir(new_grader, grader)  # last: its prepare.json marks the build complete
    print(f"wrote {out} ({len(arrays['x_train'])} train, {len(arrays['x_test'])} test images) "
          f"and the answer key {grader / 'solution.csv'}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m competition.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help=f"folder with the four IDX(.gz) files (default {DEBIAN_SOURCE})")
    parser.add_argument("--out", type=Path, default=Path("data/fashion-mnist"), help="competition folder to write")
    parser.add_argument("--limit-train", type=int, metavar="N", help="keep only the first N training images")
    parser.add_argument("--limit-test", type=int, metavar="N", help="keep only the first N test images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test-id permutation and Public split")
    parser.add_argument("--class-names", metavar="A,B,...", type=lambda text: [n.strip() for n in text.split(",")],
                        help="names of labels 0, 1, ... for classes.csv (default: Fashion-MNIST's, "
                             "unless --source is given)")
    args = parser.parse_args(argv)
    prepare(args.out, args.source, args.limit_train, args.limit_test, args.seed, args.class_names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
