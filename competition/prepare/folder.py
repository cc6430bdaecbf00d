"""Build a Kaggle-style competition folder from a source: the real Fashion-MNIST, or the host's own images.

    python -m competition.prepare [--source DIR] [--out data/fashion-mnist] [--limit-train N] ...
    python -m competition.prepare --images DIR [--labels CSV] --out DIR [--size WxH] [--test-size F|N] ...

The competitor's folder gets ``images/train/{id}.png``, ``images/test/{id}.png``, ``train.csv``
(``id,class``), ``test_sample.csv`` (``id,class`` with a placeholder class) and, when the names
are known, ``classes.csv`` (``class,name``: what each label means, as Kaggle's data page would
say). The answer key goes
OUTSIDE that folder, to ``<out>.grader/solution.csv`` (``id,class,Usage``; ``Usage`` is ``Public``
for a seeded ~30% of the rows, ``Private`` for the rest), so a competitor can be handed the folder
alone. Test ids are a seeded permutation: the sample's row order says nothing about the labels.
From ``--images`` (``competition.prepare.sources`` reads them), the split keeps copies of one picture on one
side (``competition.prepare.duplicates``), and the answer key's folder also gets ``sources.csv`` (id -> file)
and the leak report ``duplicates.csv`` / ``duplicates.png``.

Both folders are built beside their final place and renamed into it, so an interrupted run leaves
nothing half-written (and the next run sweeps what a killed one left); a second run with the same
arguments finds the work done and stops. A folder is only ever replaced if ``prepare`` built it:
the competitor's folder carries a marker, ``.prepare.json``, and the answer key's folder its
``prepare.json``; any other existing ``--out`` is refused, never deleted, and so is a build of ours
that holds files someone added (the marker lists every image the build wrote: a ``99999.png`` copied
in is not ours, whatever its name). The marker also records the CSVs' sha256 and the image counts, so a
build damaged by hand is rebuilt rather than declared done.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import warnings
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PIL import Image
from tqdm import tqdm

from .. import cli, extras, workers
from ..data import metrics
from . import duplicates, sources
from ..data import overview as overview_file
from ..errors import InputError, InputWarning
from ..fsutil import lock, release_work_dir, replace_dir, sweep_stale, work_dir, write_bytes_atomic, write_json_atomic
from .idx import find_idx, read_idx

if TYPE_CHECKING:  # pandas is imported where a table is made, not when a command reads its options
    import pandas as pd

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


class PrepareWarning(InputWarning):
    """Source files skipped (not images, not decodable) or classes too small for cross-validation."""


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
        "grader": {"solution.csv", overview_file.FILE, RECORD, "sources.csv", "duplicates.csv", "duplicates.png"}}
_OUR_IMAGE = re.compile(r"\d+\.png")


def written_images(competition: Path) -> dict[str, list[str]]:
    """The image files a build wrote, by part: the manifest its marker keeps, so that a rebuild removes
    only these (a ``99999.png`` a user copied in looks like ours, and is not)."""
    return {part: sorted(os.listdir(competition / "images" / part)) for part in ("train", "test")}


def foreign_files(out: Path, grader: Path) -> list[Path]:
    """Files and folders inside a build of ours that the build did not make: by the marker's manifest
    of the images it wrote (a build older than the manifest: by their names and count; the loader's
    cache and its work folders are ours too)."""
    found = [p for p in out.iterdir() if p.name not in OURS["competition"] and not p.name.startswith(".cache.")]
    found += [p for p in grader.iterdir() if p.name not in OURS["grader"]] if grader.is_dir() else []
    images = out / "images"
    if images.is_dir():
        found += [p for p in images.iterdir() if p.name not in ("train", "test")]
        built = _recorded(out / MARKER)
        built = built if isinstance(built, dict) else {}
        manifest = built.get("written")
        for part in ("train", "test"):
            if not (images / part).is_dir():
                continue
            names = sorted(os.listdir(images / part))
            if isinstance(manifest, dict) and isinstance(manifest.get(part), list):
                ours = set(manifest[part])
                found += [images / part / name for name in names if name not in ours]
                continue
            found += [images / part / name for name in names if not _OUR_IMAGE.fullmatch(name)]
            count = (built.get("images") or {}).get(part)
            if isinstance(count, int) and len(names) > count:  # more than it wrote: which are ours is unknown
                found.append(images / part)
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
    jobs = [(folder, ids[i : i + _CHUNK], images[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]
    in_workers(_write_pngs, jobs, bar, folder)


def write_competition(competition: Path, grader: Path, train: pd.DataFrame, test: pd.DataFrame,
                      declared: overview_file.Overview, class_names: list[str] | None = None) -> None:
    """The tables of a competition whose images are written: ``train`` (``id,class``, in train.csv's
    order) and ``test`` (``id,class,Usage``) give train.csv, test_sample.csv (ids in numeric order, one
    placeholder class), classes.csv when ``class_names`` and, in ``grader``, solution.csv (the host's
    alone: 0600); then ``competition.json`` in both (``declare``). Every source ends here."""
    import pandas as pd

    train.to_csv(competition / "train.csv", index=False)
    test = test.iloc[np.argsort(test["id"].astype(np.int64).to_numpy(), kind="stable")]
    placeholder = min(train["class"].tolist())
    pd.DataFrame({"id": test["id"], "class": placeholder}).to_csv(competition / "test_sample.csv", index=False)
    if class_names:
        pd.DataFrame({"class": range(len(class_names)), "name": class_names}).to_csv(competition / "classes.csv",
                                                                                    index=False)
    check_usage(test["Usage"].to_numpy())
    grader.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(grader / "solution.csv", test[["id", "class", "Usage"]].to_csv(index=False).encode(), secret=True)
    declare(competition, grader, declared)


def declare(competition: Path, grader: Path, declared: overview_file.Overview) -> None:
    """Write ``competition.json`` in both folders; a probability metric's sample gets one column
    per class (headed as train.csv writes the class), each row the uniform guess, as Kaggle's do."""
    import pandas as pd

    for folder in (competition, grader):
        overview_file.write(folder, declared)
    if declared.probabilities:
        sample = pd.read_csv(competition / "test_sample.csv", dtype=str, keep_default_na=False)
        classes = np.unique(pd.read_csv(competition / "train.csv")["class"]).tolist()
        uniform = pd.DataFrame({str(c): 1 / len(classes) for c in classes}, index=sample.index)
        pd.concat([sample[["id"]], uniform], axis=1).to_csv(competition / "test_sample.csv", index=False)


def usage(public: np.ndarray) -> np.ndarray:
    return np.where(public, "Public", "Private")


def build(arrays: dict[str, np.ndarray], competition: Path, grader: Path, seed: int,
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
        write_images(competition / "images" / "train", train_ids, arrays["x_train"], bar)
        write_images(competition / "images" / "test", test_ids, arrays["x_test"], bar)
    write_competition(competition, grader, pd.DataFrame({"id": train_ids, "class": arrays["y_train"]}),
                      pd.DataFrame({"id": test_ids, "class": arrays["y_test"], "Usage": usage(public)}),
                      declared or overview_file.declare(metrics.DEFAULT, competition.name, public_fraction),
                      class_names)


def grader_of(out: Path) -> Path:
    """The answer key's folder: beside the competitor's, never inside it."""
    return out.with_name(out.name + ".grader")


def check_out(out: Path) -> Path:
    out = Path(os.path.abspath(out))
    if Path.cwd() == out or out in Path.cwd().parents:
        raise PrepareError(f"--out {out}: is the current folder or holds it; name a folder to build, such as "
                           "data/fashion-mnist")
    return out


def build_once(out: Path, recipe: dict, make: Callable[[Path, Path, Path], str]) -> Path:
    """Build ``out`` and its answer key with ``make(competition, grader, scratch)`` (fresh folders
    beside their final place; ``scratch`` for anything else; it returns what to print) and rename them
    into place, unless a build with ``recipe`` is already there and intact. Refuses an ``out`` it did
    not build; an interrupted build leaves only its work folder, which the next run sweeps."""
    grader = grader_of(out)
    check_replaceable(out, grader)
    out.parent.mkdir(parents=True, exist_ok=True)
    with lock(out.with_name(f".{out.name}.prepare.lock")):  # one prepare of ``out`` at a time
        sweep_stale(out.parent, out.name)  # what a killed run left
        if (_recorded(out / MARKER) or {}).get("recipe") == recipe and _recorded(grader / RECORD) == recipe \
                and intact(out, recipe):
            print(f"{out} is already prepared with these settings; nothing to do")
            return out
        check_replaceable(out, grader)  # again: another process may have written meanwhile
        tmp = work_dir(out.parent, out.name)
        try:
            new_out, new_grader = tmp / "competition", tmp / "grader"
            scratch = tmp / "scratch"
            scratch.mkdir()
            done = make(new_out, new_grader, scratch)
            check_gradable(new_out, new_grader, out)
            write_json_atomic(new_out / MARKER, {"recipe": recipe, "csv_sha256": {
                name: hashlib.sha256((new_out / name).read_bytes()).hexdigest() for name in ("train.csv", "test_sample.csv")},
                "images": {part: len(os.listdir(new_out / "images" / part)) for part in ("train", "test")},
                "written": written_images(new_out)})
            write_json_atomic(new_grader / RECORD, recipe)
            replace_dir(new_out, out)
            replace_dir(new_grader, grader)  # last: its record marks the build complete
        finally:
            release_work_dir(tmp)
            shutil.rmtree(tmp, ignore_errors=True)
    print(done)
    return out


def prepare(out: Path, source: Path | None = None, limit_train: int | None = None,
            limit_test: int | None = None, seed: int = 0, class_names: list[str] | None = None,
            public: float = PUBLIC_FRACTION, title: str | None = None, metric: str = metrics.DEFAULT) -> Path:
    """Build ``out`` and ``out.grader`` from Fashion-MNIST unless an identical build is already there;
    return ``out``. ``metric`` and ``title`` are declared in ``competition.json``."""
    out = check_out(out)
    if class_names is None and source is None:
        class_names = FASHION_NAMES  # another --source (MNIST digits, say) gets names only when given
    for name, limit in (("--limit-train", limit_train), ("--limit-test", limit_test)):
        if limit is not None and limit < 1:
            raise PrepareError(f"{name} must be at least 1, got {limit}")
    recipe = {"format": FORMAT, "source": str(source or DEBIAN_SOURCE), "limit_train": limit_train,
              "limit_test": limit_test, "seed": seed, "class_names": class_names, "public": public, "title": title,
              "metric": metric}
    declared = overview_file.declare(metric, title or out.name, public)

    def make(competition: Path, grader: Path, scratch: Path) -> str:
        arrays = load_source(source)
        check_arrays(arrays, str(source or DEBIAN_SOURCE))
        if class_names:  # against the whole source: a --limit slice may lack a class
            check_class_names(class_names, np.concatenate([arrays["y_train"], arrays["y_test"]]))
        x_train, y_train = arrays["x_train"][:limit_train], arrays["y_train"][:limit_train]
        x_test, y_test = arrays["x_test"][:limit_test], arrays["y_test"][:limit_test]
        build({"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, competition, grader,
              seed, class_names, public, declared)
        return (f"wrote {out} ({len(x_train)} train, {len(x_test)} test images) "
                f"and the answer key {grader_of(out) / 'solution.csv'}")

    return build_once(out, recipe, make)


def allocate(counts: np.ndarray, share: float) -> np.ndarray:
    """``share`` of each count, whole numbers summing to ``round(share * total)`` (largest remainders)."""
    exact = np.asarray(counts, dtype=float) * share
    taken = np.floor(exact).astype(np.int64)
    short = int(round(share * np.sum(counts))) - int(taken.sum())
    taken[np.argsort(-(exact - taken), kind="stable")[:max(short, 0)]] += 1
    return taken


def split_by_group(labels: np.ndarray, group: np.ndarray, test_share: float, rng: np.random.Generator) -> np.ndarray:
    """Which images go to test: about ``test_share`` of each class (at least one left in train), whole
    groups at a time so that copies of one picture share a side. Images with ``group == -1`` are alone."""
    classes, label_index = np.unique(labels, return_inverse=True)
    counts = np.bincount(label_index, minlength=len(classes))
    wanted = np.minimum(allocate(counts, test_share), counts - 1)
    unit = np.where(group >= 0, group, group.max(initial=-1) + 1 + np.arange(len(group)))  # alone: its own unit
    chosen = []
    for k in range(len(classes)):  # a group holds one class: its copies' labels agree
        units, sizes = np.unique(unit[label_index == k], return_counts=True)
        order = rng.permutation(len(units))
        taken = 0
        for u, size in zip(units[order].tolist(), sizes[order].tolist()):
            if taken + size <= wanted[k]:
                chosen.append(u)
                taken += size
            if taken == wanted[k]:
                break
    return np.isin(unit, chosen)


def public_rows(labels: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """A seeded ``share`` of the rows of each class, for the public board."""
    public = np.zeros(len(labels), dtype=bool)
    classes, label_index = np.unique(labels, return_inverse=True)
    for k, n in enumerate(allocate(np.bincount(label_index, minlength=len(classes)), share)):
        rows = np.flatnonzero(label_index == k)
        public[rng.choice(rows, size=n, replace=False)] = True
    return public


def test_share(test_size: float, n_images: int) -> float:
    """``--test-size`` as a share of the images: a fraction as given, a count divided by ``n_images``."""
    if test_size < 1:
        return test_size
    if test_size >= n_images:
        raise PrepareError(f"--test-size {test_size:g}: there are only {n_images:,} images to split")
    return test_size / n_images


def check_images_out(images: Path, out: Path) -> None:
    """Nothing is written into the source folder or under it, and ``out`` must not hold it."""
    source, target = Path(os.path.realpath(images)), Path(os.path.realpath(out))
    for path in (target, Path(os.path.realpath(grader_of(out)))):
        if path == source or source in path.parents:
            raise PrepareError(f"--out {out}: is inside --images {images}; the source folder is never written to")
    if target in source.parents:
        raise PrepareError(f"--out {out}: holds --images {images}; choose a folder beside it")


def warn_unused(listing: sources.Listing, failed: dict[int, str], strict: bool) -> None:
    """One warning counting the files that are not images, one the images in no class folder; each
    image that does not decode named (``strict``: refused)."""
    if listing.skipped:
        names = ", ".join(Path(p).name for p in listing.skipped[:3])
        warnings.warn(f"skipped {len(listing.skipped):,} files that are not images (e.g. {names})",
                      PrepareWarning, stacklevel=2)
    if listing.unfiled:
        names = ", ".join(Path(p).name for p in listing.unfiled[:3])
        warnings.warn(f"skipped {len(listing.unfiled):,} images outside the class sub-folders, so without a "
                      f"class (e.g. {names})", PrepareWarning, stacklevel=2)
    for index, why in list(failed.items())[:10]:
        if strict:
            raise PrepareError(f"{listing.files[index]}: {why} (--strict)")
        warnings.warn(f"{listing.files[index]}: {why}; skipped", PrepareWarning, stacklevel=2)
    if len(failed) > 10:
        warnings.warn(f"... and {len(failed) - 10:,} more images that do not decode, skipped", PrepareWarning,
                      stacklevel=2)


def check_label_spellings(labels: list[str], where: Path) -> None:
    """Refuse class names that read as one number (folders ``1``, ``01`` and ``1.0``): train.csv would
    hold them as three labels, which the loader and the grader refuse as one number written two ways."""
    from ..data.loader import two_spellings

    found = two_spellings(set(labels))
    if found:
        raise PrepareError(f"{where}: classes {found[0]!r} and {found[1]!r} read as one number; name every class "
                           "once (rename or merge the folders, or fix the labels)")


def check_gradable(competition: Path, grader: Path, out: Path) -> None:
    """What ``prepare`` is about to put in place is what ``serve`` and ``grade`` accept: the grader's
    own checks run on the new folders (a key with no Public row, labels that read as one, a metric the
    key cannot score), and a refusal is ``prepare``'s, before anything is replaced."""
    from ..grade.grader import Grader

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Grader(competition, grader / "solution.csv")
    except InputError as exc:
        message = str(exc).replace(str(competition), str(out)).replace(str(grader), str(grader_of(out)))
        raise PrepareError(f"the competition would not be gradable: {message}") from None


def check_usage(usage: np.ndarray) -> None:
    """The key needs Public and Private rows: a board needs the one, the final ranking the other."""
    n_public = int((usage == "Public").sum())
    if n_public == 0 or n_public == len(usage):
        raise PrepareError(f"{len(usage):,} test rows give {n_public:,} Public and {len(usage) - n_public:,} Private "
                           "rows; the answer key needs both: change --public or the test size")


def check_classes(labels: np.ndarray) -> None:
    classes, counts = np.unique(labels, return_counts=True)
    few = [f"{c} ({n})" for c, n in zip(classes, counts) if n < 2]
    if few:
        raise PrepareError(f"class {few[0]} has fewer than 2 images: it cannot be in both train and test"
                           + (f" ({len(few)} such classes)" if len(few) > 1 else ""))
    small = [f"{c} ({n})" for c, n in zip(classes, counts) if n < cli.FOLDS]
    if small:
        warnings.warn(f"class(es) with fewer than {cli.FOLDS} images, too few for {cli.FOLDS}-fold CV: "
                      f"{', '.join(small[:5])}", PrepareWarning, stacklevel=2)


def choose_format(headers: list, size: tuple[int, int] | None, mode: str | None) -> tuple[tuple[int, int], str]:
    """The competition's size and mode: as given, else the one size all images share and L unless
    one has colour."""
    readable = [h for h in headers if not isinstance(h, str)]
    if not readable:
        raise PrepareError(f"--images: none of the {len(headers):,} images can be read")
    if size is None and sources.common_size(readable) is None:
        raise PrepareError(f"the images differ in size ({sources.size_counts(readable)}); choose one with "
                           "--size WxH (and --fit pad|crop|stretch)")
    return size or sources.common_size(readable), mode or sources.default_mode(readable)


def build_from_images(listing: sources.Listing, competition: Path, grader: Path, scratch: Path, *,
                      test_size: float, public: float, size: tuple[int, int] | None, fit: str, mode: str | None,
                      seed: int, keep_duplicates: bool, strict: bool, declared: overview_file.Overview) -> str:
    """Read, fit, check for copies, split and write: the image-folder source's ``make`` for ``build_once``."""
    import pandas as pd

    files = listing.files
    chunks = [range(i, min(i + _CHUNK, len(files))) for i in range(0, len(files), _CHUNK)]
    failed = {}
    if size is None or mode is None:  # both given: no need to read the headers first
        with tqdm(total=len(files), desc="reading headers", unit="img") as bar:
            headers = in_workers(sources.read_headers, [files[c.start:c.stop] for c in chunks], bar, scratch)
        size, mode = choose_format(headers, size, mode)
        failed = {i: h for i, h in enumerate(headers) if isinstance(h, str)}
    jobs = [([i for i in c if i not in failed], [files[i] for i in c if i not in failed], str(scratch), size, mode,
             fit) for c in chunks]
    with tqdm(total=len(files) - len(failed), desc="decoding", unit="img") as bar:
        staged = in_workers(sources.fit_and_stage, jobs, bar, scratch)
    failed.update({i: why for i, digest, why in staged if digest is None})
    warn_unused(listing, dict(sorted(failed.items())), strict)

    good = np.array([i for i, digest, _ in staged if digest is not None], dtype=np.int64)
    good.sort()
    by_index = {i: (digest, thumbnail) for i, digest, thumbnail in staged if digest is not None}
    shown = [listing.shown[i] for i in good]
    labels = [listing.labels[i] for i in good]
    groups = duplicates.find_groups([by_index[i][0] for i in good],
                                    np.stack([by_index[i][1] for i in good]), keep_duplicates)
    duplicates.check_labels(groups, labels, shown)
    duplicates.report_table(groups, labels, shown).to_csv(scratch / "duplicates.csv", index=False)
    duplicates.draw_pairs(groups, shown, labels, lambda k: np.asarray(Image.open(scratch / f"{good[k]}.png")),
                          scratch / "duplicates.png")

    kept = np.flatnonzero(groups.kept)
    y = np.array(labels, dtype=object)[kept].astype(str)
    check_classes(y)
    rng = np.random.default_rng(seed)
    test = split_by_group(y, groups.group[kept], test_share(test_size, len(kept)), rng)
    if not test.any():
        raise PrepareError(f"--test-size {test_size:g} leaves no test image of {len(kept):,}; raise it")
    ids = rng.permutation(len(kept)).astype(str)  # random: no file name, folder or order survives
    for part, rows in (("train", ~test), ("test", test)):
        (competition / "images" / part).mkdir(parents=True)
        for k in np.flatnonzero(rows):
            os.rename(scratch / f"{good[kept[k]]}.png", competition / "images" / part / f"{ids[k]}.png")
    order = np.argsort(ids.astype(np.int64), kind="stable")
    train_rows, test_rows = order[~test[order]], order[test[order]]
    is_public = public_rows(y[test_rows], public, rng)
    write_competition(competition, grader, pd.DataFrame({"id": ids[train_rows], "class": y[train_rows]}),
                      pd.DataFrame({"id": ids[test_rows], "class": y[test_rows], "Usage": usage(is_public)}),
                      declared)
    pd.DataFrame({"id": ids[order], "file": [shown[kept[k]] for k in order],
                  "split": np.where(test[order], "test", "train")}).to_csv(grader / "sources.csv", index=False)
    for name in ("duplicates.csv", "duplicates.png"):
        os.rename(scratch / name, grader / name)
    return (f"{len(train_rows):,} train and {len(test_rows):,} test images, {size[0]}x{size[1]} {mode}; leak check: "
            f"{groups.n_groups:,} groups of copies kept on one side, {int(groups.copy.sum()):,} exact copies "
            f"{'kept' if keep_duplicates else 'dropped'}, {len(failed):,} unreadable images skipped")


def prepare_images(images: Path, out: Path, labels: Path | None = None, *, test_size: float = 0.2,
                   public: float = PUBLIC_FRACTION, size: tuple[int, int] | None = None, fit: str = "pad",
                   mode: str | None = None, seed: int = 0, title: str | None = None, keep_duplicates: bool = False,
                   strict: bool = False, metric: str = metrics.DEFAULT) -> Path:
    """Build ``out`` and ``out.grader`` from a folder of the host's images (class sub-folders, or
    ``labels``: a CSV of file and label) unless an identical build is already there; return ``out``."""
    out, images = check_out(out), Path(os.path.abspath(images))
    check_images_out(images, out)
    listing = sources.find_images(images, labels and Path(os.path.abspath(labels)))
    check_label_spellings(listing.labels, labels or images)
    recipe = {"format": FORMAT, "images": str(images), "labels": str(labels) if labels else None,
              "files": listing.fingerprint(), "test_size": test_size, "public": public,
              "size": list(size) if size else None, "fit": fit, "mode": mode, "seed": seed, "title": title,
              "keep_duplicates": keep_duplicates, "strict": strict, "metric": metric}
    declared = overview_file.declare(metric, title or out.name, public)

    def make(competition: Path, grader: Path, scratch: Path) -> str:
        done = build_from_images(listing, competition, grader, scratch, test_size=test_size, public=public,
                                 size=size, fit=fit, mode=mode, seed=seed, keep_duplicates=keep_duplicates,
                                 strict=strict, declared=declared)
        return f"wrote {out} ({done}); the answer key, sources.csv and the leak report are in {grader_of(out)}"

    return build_once(out, recipe, make)


def _recorded(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def parse_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",")]


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` as two whole numbers of pixels, each at least 1."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, such as 64x64, got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if min(width, height) < 1 or max(width, height) > 10_000:
        raise argparse.ArgumentTypeError(f"width and height must be from 1 to 10000 pixels, got {text}")
    return width, height


def parse_test_size(text: str) -> float:
    """A fraction of the images (0 < f < 1) or a whole number of them (at least 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction or a count, got {text!r}") from None
    if not (0 < value < 1 or (value >= 1 and value.is_integer())):
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1 or a whole number of images, got {text}")
    return value


def parse_share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1, got {text}")
    return value


FASHION_ONLY = ("source", "limit_train", "limit_test", "class_names")
IMAGES_ONLY = ("labels", "test_size", "size", "fit", "mode", "keep_duplicates", "strict")


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(prog="python -m competition.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path,
                        help=f"competition folder to write (default {cli.DATA}); replaced only if prepare built it")
    parser.add_argument("--seed", type=cli.seed, default=0, help="seed of the split, the ids and the Public rows")
    parser.add_argument("--public", type=parse_share, default=PUBLIC_FRACTION, metavar="SHARE",
                        help=f"share of the test rows scored on the public board (default {PUBLIC_FRACTION})")
    parser.add_argument("--title", help=f"the competition's name, as competitors will see it (in {overview_file.FILE}; "
                                        "default: the folder's name)")
    parser.add_argument("--metric", choices=list(metrics.REGISTRY), default=metrics.DEFAULT, metavar="NAME",
                        help=f"the competition's score, recorded in {overview_file.FILE} (default accuracy; one "
                             f"of {', '.join(metrics.REGISTRY)}); a probability metric's sample has a column per class")
    fashion = parser.add_argument_group("Fashion-MNIST (without --images)")
    fashion.add_argument("--source", type=Path, help=f"folder with the four IDX(.gz) files (default {DEBIAN_SOURCE})")
    fashion.add_argument("--limit-train", type=cli.int_at_least(1), metavar="N",
                         help="keep only the first N training images")
    fashion.add_argument("--limit-test", type=cli.int_at_least(1), metavar="N",
                         help="keep only the first N test images")
    fashion.add_argument("--class-names", metavar="A,B,...", type=parse_names,
                         help="names of labels 0, 1, ... for classes.csv (default: Fashion-MNIST's, "
                              "unless --source is given)")
    own = parser.add_argument_group("your own images")
    own.add_argument("--images", type=Path, metavar="DIR",
                     help="folder of images: DIR/<class>/*.jpg, or any layout with --labels")
    own.add_argument("--labels", type=Path, metavar="CSV", help="file,label rows (paths relative to DIR)")
    own.add_argument("--test-size", type=parse_test_size, metavar="F|N",
                     help="fraction or number of images held out as the test set (default 0.2)")
    own.add_argument("--size", type=parse_size, metavar="WxH", help="size of every image (required when they differ)")
    own.add_argument("--fit", choices=sources.FITS, help="how an image of another shape is fitted: pad (letterbox, "
                                                         "the default), crop (centre) or stretch")
    own.add_argument("--mode", choices=sources.MODES, help="colour mode (default: RGB if any image has colour, else L)")
    own.add_argument("--keep-duplicates", action="store_true", default=None,
                     help="keep exact copies (default: one of each; copies always share a side of the split)")
    own.add_argument("--strict", action="store_true", default=None, help="refuse an image that does not decode "
                                                                         "(default: skip it with a warning)")
    args = parser.parse_args(argv)
    misplaced = [name for name in (IMAGES_ONLY if args.images is None else FASHION_ONLY)
                 if getattr(args, name) is not None]
    if misplaced:
        option = "--" + misplaced[0].replace("_", "-")
        parser.error(f"{option} " + ("needs --images DIR" if args.images is None else "is for Fashion-MNIST, "
                                     "not --images"))
    if args.images is None:
        prepare(args.out or cli.DATA, args.source, args.limit_train, args.limit_test, args.seed, args.class_names,
                args.public, args.title, args.metric)
        return 0
    if args.out is None:
        parser.error("--images needs --out DIR, the competition folder to write")
    prepare_images(args.images, args.out, args.labels, test_size=args.test_size or 0.2, public=args.public,
                   size=args.size, fit=args.fit or "pad", mode=args.mode, seed=args.seed, title=args.title,
                   keep_duplicates=bool(args.keep_duplicates), strict=bool(args.strict), metric=args.metric)
    return 0


if __name__ == "__main__":
    sys.exit(main())
