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
nothing half-written (and the next run sweeps what a killed one left); a second run with the same
arguments finds the work done and stops. A folder is only ever replaced if ``prepare`` built it:
the competitor's folder carries a marker, ``.prepare.json``, and the answer key's folder its
``prepare.json``; any other existing ``--out`` is refused, never deleted, and so is a build of ours
that holds files someone added. The marker also records the CSVs' sha256 and the image counts, so a
build damaged by hand is rebuilt rather than declared done.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import cli, metrics, workers
from . import overview as overview_file
from .errors import InputError
from .fsutil import lock, release_work_dir, replace_dir, sweep_stale, work_dir, write_bytes_atomic, write_json_atomic
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
FORMAT = 3  # bumped when the folder's contents change, so that older builds are rebuilt
MARKER = ".prepare.json"  # in the competitor's folder: prepare built it (the recipe it was built with)
RECORD = "prepare.json"  # in the answer key's folder: the same recipe, written last
_CHUNK = 500  # PNGs a worker writes per job: Ctrl-C waits for at most one job per worker


class PrepareError(InputError):
    """Settings or source files that cannot make a competition; or an ``--out`` that is not ours."""


def load_source(source: Path | None) -> dict[str, np.ndarray]:
    """The four Fashion-MNIST arrays, from ``source``, Debian's package, or Keras' downloader."""
    for directory in [source] if source else [DEBIAN_SOURCE]:
        if directory and directory.is_dir():
            return {key: read_idx(find_idx(directory, stem)) for key, stem in IDX_FILES.items()}
    if source:
        raise PrepareError(f"--source {source}: not a folder")
    print(f"{DEBIAN_SOURCE} not found (apt-get install dataset-fashion-mnist); trying Keras' downloader")
    from keras.datasets import fashion_mnist  # needs internet: a fallback only

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
            raise PrepareError(f"{source}: {part} labels are {labels.dtype} of shape {labels.shape}, expected N integers")
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


def built_by_prepare(out: Path, grader: Path) -> bool:
    """Whether ``out`` is a folder this module built (its marker, or an older build's key record)."""
    if (out / MARKER).is_file():
        return True
    try:  # builds before the marker existed: recognised by their answer key's record
        return "format" in json.loads((grader / RECORD).read_text())
    except (OSError, ValueError, TypeError):
        return False


# What a build holds: anything else in it was put there by someone else, and a rebuild would delete it.
OURS = {"competition": {"images", "train.csv", "test_sample.csv", "classes.csv", overview_file.FILE, MARKER, ".cache",
                        ".cache.lock"},
        "grader": {"solution.csv", overview_file.FILE, RECORD}}
_OUR_IMAGE = re.compile(r"\d+\.png")


def foreign_files(out: Path, grader: Path) -> list[Path]:
    """Files and folders inside a build of ours that the build did not make (the loader's cache and
    its work folders are ours too)."""
    found = [p for p in out.iterdir() if p.name not in OURS["competition"] and not p.name.startswith(".cache.")]
    found += [p for p in grader.iterdir() if p.name not in OURS["grader"]] if grader.is_dir() else []
    images = out / "images"
    if images.is_dir():
        found += [p for p in images.iterdir() if p.name not in ("train", "test")]
        for part in ("train", "test"):
            if (images / part).is_dir():
                found += [images / part / name for name in os.listdir(images / part) if not _OUR_IMAGE.fullmatch(name)]
    return found


def check_replaceable(out: Path, grader: Path) -> None:
    """Refuse an ``--out`` (or its answer-key sibling) that exists and was not built by ``prepare``,
    or a build of ours holding files someone added: replacing it would delete them."""
    for path in (out, grader):
        if not path.exists():
            continue
        if not path.is_dir():
            raise PrepareError(f"{path}: exists and is not a folder; choose another --out")
        if any(path.iterdir()) and not built_by_prepare(out, grader):
            raise PrepareError(f"{path}: exists and was not built by competition.prepare (no {MARKER}); "
                               "it is left untouched: move it away or choose another --out")
    if out.is_dir() and built_by_prepare(out, grader):
        extra = foreign_files(out, grader)
        if extra:
            raise PrepareError(f"{extra[0]}: not written by competition.prepare, and rebuilding {out} would delete it"
                               + (f" ({len(extra)} such files)" if len(extra) > 1 else "")
                               + "; move it out first")


def intact(out: Path, recipe: dict) -> bool:
    """Whether a build still holds what it was built with: its CSVs unchanged, all its images there."""
    built = _recorded(out / MARKER) or {}
    try:
        return all(hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
                   for name, digest in built["csv_sha256"].items()) and all(
            len(os.listdir(out / "images" / part)) == count for part, count in built["images"].items())
    except (OSError, KeyError, TypeError, AttributeError):
        return False


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
    try:
        with workers.pool(os.cpu_count()) as pool:
            for done in pool.map(_write_pngs, jobs):
                bar.update(done)
    except BrokenProcessPool:
        raise PrepareError(f"{folder}: a worker process writing PNGs died (killed, or out of memory); "
                           "nothing was replaced, run prepare again") from None


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
    write_bytes_atomic(grader / "solution.csv", solution.to_csv(index=False).encode(), secret=True)


def declare(competition: Path, grader: Path, declared: overview_file.Overview) -> None:
    """Write ``competition.json`` in both folders; a probability metric's sample gets one column
    per class (headed as train.csv writes the class), each row the uniform guess, as Kaggle's do."""
    for folder in (competition, grader):
        overview_file.write(folder, declared)
    if declared.probabilities:
        sample = pd.read_csv(competition / "test_sample.csv", dtype=str, keep_default_na=False)
        classes = np.unique(pd.read_csv(competition / "train.csv")["class"]).tolist()
        uniform = pd.DataFrame({str(c): 1 / len(classes) for c in classes}, index=sample.index)
        pd.concat([sample[["id"]], uniform], axis=1).to_csv(competition / "test_sample.csv", index=False)


def prepare(out: Path, source: Path | None = None, limit_train: int | None = None,
            limit_test: int | None = None, seed: int = 0, class_names: list[str] | None = None,
            metric: str = metrics.DEFAULT, title: str | None = None) -> Path:
    """Build ``out`` and ``out.grader`` unless an identical build is already there; return ``out``."""
    out = Path(os.path.abspath(out))
    if Path.cwd() == out or out in Path.cwd().parents:
        raise PrepareError(f"--out {out}: is the current folder or holds it; name a folder to build, such as "
                           "data/fashion-mnist")
    grader = out.with_name(out.name + ".grader")
    if class_names is None and source is None:
        class_names = FASHION_NAMES  # another --source (MNIST digits, say) gets names only when given
    for name, limit in (("--limit-train", limit_train), ("--limit-test", limit_test)):
        if limit is not None and limit < 1:
            raise PrepareError(f"{name} must be at least 1, got {limit}")
    declared = overview_file.declare(metric, title or out.name, PUBLIC_FRACTION)
    recipe = {"format": FORMAT, "source": str(source or DEBIAN_SOURCE), "limit_train": limit_train,
              "limit_test": limit_test, "seed": seed, "class_names": class_names,
              **({"metric": metric} if metric != metrics.DEFAULT else {}), **({"title": title} if title else {})}
    check_replaceable(out, grader)
    out.parent.mkdir(parents=True, exist_ok=True)
    with lock(out.with_name(f".{out.name}.prepare.lock")):  # one prepare of ``out`` at a time
        sweep_stale(out.parent, out.name)  # what a killed run left
        if (_recorded(out / MARKER) or {}).get("recipe") == recipe and _recorded(grader / RECORD) == recipe \
                and intact(out, recipe):
            print(f"{out} is already prepared with these settings; nothing to do")
            return out
        check_replaceable(out, grader)  # again: another process may have written meanwhile
        arrays = load_source(source)
        check_arrays(arrays, str(source or DEBIAN_SOURCE))
        if class_names:  # against the whole source: a --limit slice may lack a class
            check_class_names(class_names, np.concatenate([arrays["y_train"], arrays["y_test"]]))
        arrays["x_train"], arrays["y_train"] = arrays["x_train"][:limit_train], arrays["y_train"][:limit_train]
        arrays["x_test"], arrays["y_test"] = arrays["x_test"][:limit_test], arrays["y_test"][:limit_test]
        tmp = work_dir(out.parent, out.name)
        try:
            new_out, new_grader = tmp / "competition", tmp / "grader"
            build(arrays, new_out, new_grader, seed, class_names)
            declare(new_out, new_grader, declared)
            write_json_atomic(new_out / MARKER, {"recipe": recipe, "csv_sha256": {
                name: hashlib.sha256((new_out / name).read_bytes()).hexdigest() for name in ("train.csv", "test_sample.csv")},
                "images": {part: len(os.listdir(new_out / "images" / part)) for part in ("train", "test")}})
            write_json_atomic(new_grader / RECORD, recipe)
            replace_dir(new_out, out)
            replace_dir(new_grader, grader)  # last: its record marks the build complete
        finally:
            release_work_dir(tmp)
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {out} ({len(arrays['x_train'])} train, {len(arrays['x_test'])} test images) "
          f"and the answer key {grader / 'solution.csv'}")
    return out


def _recorded(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def parse_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",")]


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(prog="python -m competition.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help=f"folder with the four IDX(.gz) files (default {DEBIAN_SOURCE})")
    parser.add_argument("--out", type=Path, default=cli.DATA,
                        help=f"competition folder to write (default {cli.DATA}); replaced only if prepare built it")
    parser.add_argument("--limit-train", type=cli.int_at_least(1), metavar="N", help="keep only the first N training images")
    parser.add_argument("--limit-test", type=cli.int_at_least(1), metavar="N", help="keep only the first N test images")
    parser.add_argument("--seed", type=cli.seed, default=0, help="seed of the test-id permutation and Public split")
    parser.add_argument("--class-names", metavar="A,B,...", type=parse_names,
                        help="names of labels 0, 1, ... for classes.csv (default: Fashion-MNIST's, "
                             "unless --source is given)")
    parser.add_argument("--metric", choices=list(metrics.REGISTRY), default=metrics.DEFAULT, metavar="NAME",
                        help=f"the competition's score, recorded in {overview_file.FILE} (default accuracy; one "
                             f"of {', '.join(metrics.REGISTRY)}); a probability metric's sample has a column per class")
    parser.add_argument("--title", help=f"the competition's title in {overview_file.FILE} (default: the folder's name)")
    args = parser.parse_args(argv)
    prepare(args.out, args.source, args.limit_train, args.limit_test, args.seed, args.class_names, args.metric,
            args.title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
