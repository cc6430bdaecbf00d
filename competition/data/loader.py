"""Load a competition folder into arrays, refusing broken input with errors that name the culprit.

A competition folder holds ``train.csv`` (id and label), ``test_sample.csv`` (the sample
submission: id and a placeholder label, in the order submissions must follow) and
``images/train/{id}.png``, ``images/test/{id}.png``. Nothing about the data is assumed: image
size, channels, the class count, the form of ids and the type of labels all come from the files.

    comp = load_competition("data/fashion-mnist")
    comp.x_train.shape      # (60000, 28, 28, 1) uint8
    python -m competition.data check data/fashion-mnist

Decoded arrays are cached in ``<folder>/.cache`` (see ``competition.data.cache``), so the second load
costs a few file checks instead of 70,000 decodes.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import cache as cache_store
from .. import cli
from . import overview as overview_file
from .images import ImageError, decode_pngs, describe_shape
from .records import Competition, CompetitionDataError, CompetitionDataWarning, Layout
from .tables import id_column_of, is_missing, read_csv, repeats

_INT_PATTERN = re.compile(r"0|-?[1-9][0-9]*")  # one spelling per integer: not 01, +1 or -0
_INT64 = np.iinfo(np.int64)


def pick_columns(sample: dict, path: Path) -> tuple[str, str]:
    """The id and label columns, as the sample submission names them (``id`` and one more)."""
    columns = list(sample)
    id_column = id_column_of(columns)
    others = [c for c in columns if c != id_column]
    if len(others) != 1:
        raise CompetitionDataError(
            f"{path}: expected an id column and one label column, got columns {', '.join(columns)}")
    return id_column, others[0]


def check_ids(ids: list[str], path: Path) -> np.ndarray:
    """Ids must be non-empty, unique and usable as a file name stem."""
    for row, image_id in enumerate(ids):
        if image_id in ("", ".", "..") or "/" in image_id or "\\" in image_id or "\x00" in image_id:
            raise CompetitionDataError(f"{path}, line {row + 2}: id {image_id!r} cannot name an image file")
    duplicated = repeats(ids)
    if duplicated:
        first = duplicated[0]
        lines = [str(row + 2) for row, image_id in enumerate(ids) if image_id == first]
        more = len(set(duplicated)) - 1
        raise CompetitionDataError(
            f"{path}: duplicate id {first!r} on lines {', '.join(lines)}"
            + (f" (and {more} more duplicated ids)" if more else ""))
    return np.array(ids, dtype=str)


def parse_labels(labels: list[str], path: Path, column: str) -> np.ndarray:
    """Labels as integers when every one is written as an integer, else as strings. One number
    written two ways (``1`` and ``1.0``) is refused: as text they would be two classes."""
    missing = [row for row, label in enumerate(labels) if is_missing(label)]
    if missing:
        raise CompetitionDataError(
            f"{path}, line {missing[0] + 2}: empty or NaN label in column '{column}'"
            + (f" ({len(missing)} such rows)" if len(missing) > 1 else ""))
    distinct = set(labels)
    if all(_INT_PATTERN.fullmatch(label) for label in distinct):
        huge = [label for label in distinct if not _INT64.min <= int(label) <= _INT64.max]
        if huge:
            raise CompetitionDataError(
                f"{path}, line {labels.index(huge[0]) + 2}: label {huge[0]!r} in column '{column}' is beyond the "
                "64-bit integer range; write integer labels within it, or labels as text")
        return np.array(labels, dtype=np.int64)
    check_one_spelling(labels, distinct, path, column)
    return np.array(labels, dtype=str)


def two_spellings(distinct: set[str]) -> tuple[str, str] | None:
    """Two different texts of one number among ``distinct`` labels (``1``, ``1.0``, ``01``), if any:
    read as numbers they are one class, as text two. ``prepare`` asks it of class folders too."""
    spelled: dict[float, str] = {}
    for label in sorted(distinct):
        try:
            number = float(label)
        except ValueError:
            continue
        if number in spelled:
            return spelled[number], label
        spelled[number] = label
    return None


def check_one_spelling(labels: list[str], distinct: set[str], path: Path, column: str) -> None:
    """Refuse two different texts of one number among the labels (``1``, ``1.0``, ``01``)."""
    found = two_spellings(distinct)
    if found:
        first, other = found
        lines = [labels.index(first) + 2, labels.index(other) + 2]
        raise CompetitionDataError(
            f"{path}, lines {min(lines)} and {max(lines)}: labels {first!r} and {other!r} in column "
            f"'{column}' are one number written two ways; write every label of a class the same way")


def read_tables(layout: Layout) -> dict:
    """Ids, labels and column names from both CSVs, validated. A probability competition's sample
    has a column per class, so its label column is train.csv's one column besides the id."""
    sample = read_csv(layout.sample_csv)
    train = read_csv(layout.train_csv)
    if overview_file.read(layout.root).probabilities:
        id_column = id_column_of(list(sample))
        labels = [column for column in train if column != id_column]
        if len(labels) != 1:
            raise CompetitionDataError(f"{layout.train_csv}: expected the id column '{id_column}' and one label "
                                       f"column, got columns {', '.join(train)}")
        label_column = labels[0]
    else:
        id_column, label_column = pick_columns(sample, layout.sample_csv)
    for column in (id_column, label_column):
        if column not in train:
            raise CompetitionDataError(
                f"{layout.train_csv}: no '{column}' column (columns: {', '.join(train)}; "
                f"test_sample.csv names the id and label columns)")
    for path, table in ((layout.train_csv, train), (layout.sample_csv, sample)):
        if not table[id_column]:
            raise CompetitionDataError(f"{path}: no rows")
    y_train = parse_labels(train[label_column], layout.train_csv, label_column)
    if len(set(y_train.tolist())) < 2:
        raise CompetitionDataError(f"{layout.train_csv}: every row has label {y_train[0].item()!r} in column "
                                   f"'{label_column}'; a classifier needs at least two classes")
    return {
        "train_ids": check_ids(train[id_column], layout.train_csv),
        "y_train": y_train,
        "test_ids": check_ids(sample[id_column], layout.sample_csv),
        "id_column": id_column,
        "label_column": label_column,
    }


def check_sample_format(layout: Layout, declared: overview_file.Overview, classes: list) -> None:
    """The sample submission fits ``competition.json``: one label column, or one column per class
    (headed by the class as train.csv writes it) when the metric scores probabilities."""
    if not declared.probabilities:
        return
    header = list(read_csv(layout.sample_csv))
    id_column = id_column_of(header)
    columns, expected = [c for c in header if c != id_column], [str(c) for c in classes]
    missing, extra = [c for c in expected if c not in columns], [c for c in columns if c not in expected]
    if missing or extra:
        raise CompetitionDataError(
            f"{layout.sample_csv}: metric {declared.metric} scores probabilities, so the sample needs '{id_column}' "
            f"and one column per class ({', '.join(expected)})"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(extra)}" if extra else ""))


def match_images(folder: Path, ids: np.ndarray, csv: Path) -> tuple[list[str], list[str]]:
    """Paths of the PNGs for ``ids`` (error if one is missing), and a warning for unlisted PNGs."""
    ids = ids.tolist()
    present = {name[:-4] for name in os.listdir(folder) if name.endswith(".png")}
    missing = [i for i, image_id in enumerate(ids) if image_id not in present]
    if missing:
        first = missing[0]
        raise CompetitionDataError(
            f"{folder / (ids[first] + '.png')}: missing ({csv.name} line {first + 2} lists id {ids[first]!r}"
            + (f"; {len(missing)} listed ids have no PNG)" if len(missing) > 1 else ")"))
    notes = []
    extra = sorted(present.difference(ids))
    if extra:
        shown = ", ".join(e + ".png" for e in extra[:3])
        notes.append(f"{folder}: {len(extra)} PNG(s) not listed in {csv.name}, ignored (e.g. {shown})")
    prefix = str(folder) + "/"
    return [prefix + image_id + ".png" for image_id in ids], notes


def class_warnings(classes: np.ndarray, counts: np.ndarray, min_rows: int, path: Path) -> list[str]:
    small = [f"{c!s} ({n})" for c, n in zip(classes, counts) if n < min_rows]
    if not small:
        return []
    return [f"{path}: class(es) with fewer than {min_rows} rows, too few for {min_rows}-fold CV: {', '.join(small)}"]


def decode(layout: Layout, tables: dict,
           build_dir: Path | None) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Decode train then test images in one pass (into ``build_dir`` when caching); all must share
    one size and mode. Returns train and test pixels, warnings and the files' stats."""
    train_paths, notes = match_images(layout.train_images, tables["train_ids"], layout.train_csv)
    test_paths, test_notes = match_images(layout.test_images, tables["test_ids"], layout.sample_csv)
    try:
        pixels, stats = decode_pngs(train_paths + test_paths, out=build_dir and build_dir / cache_store.PIXELS)
    except ImageError as exc:
        raise CompetitionDataError(str(exc)) from None
    n = len(train_paths)
    return pixels[:n], pixels[n:], notes + test_notes, stats


def load_competition(path: str | Path, *, cache: bool = True, verify: str = "full",
                     min_class_rows: int = 5) -> Competition:
    """Load and validate the competition folder ``path``.

    ``cache``: keep decoded arrays in ``path/.cache`` and reuse them while the files are unchanged.
    ``verify``: how a cache proves itself current: ``"full"`` compares every image's size and
    modification time (and both CSVs and image folders); ``"quick"`` only the CSVs and folders,
    which catches added, removed or renamed images but not one rewritten in place.
    ``min_class_rows``: warn about classes with fewer rows (the number of CV folds).
    Raises ``CompetitionDataError``; warns with ``CompetitionDataWarning``.
    """
    layout = Layout(Path(path))
    layout.check_exists()
    declared = overview_file.read(layout.root)  # a bad competition.json is said before any decoding
    if not cache:
        return _finish(_load_files(layout, cache=False), min_class_rows, declared)
    with cache_store.locked(layout):  # concurrent loaders of one folder: one builds, the others reuse
        cached = cache_store.load(layout, verify)
        if cached is not None:
            competition = Competition(name=layout.root.resolve().name, path=layout.root, cache_status="hit", **cached)
        else:
            competition = _load_files(layout, cache=True)
    return _finish(competition, min_class_rows, declared)


def _load_files(layout: Layout, cache: bool) -> Competition:
    """Read the CSVs and decode every image (into a new cache when ``cache``)."""
    tables = read_tables(layout)
    with cache_store.builder(layout, enabled=cache) as build:
        x_train, x_test, notes, stats = decode(layout, tables, build.folder)
        competition = Competition(
            name=layout.root.resolve().name, path=layout.root, x_train=x_train, x_test=x_test,
            classes=np.unique(tables["y_train"]), fingerprint=cache_store.fingerprint(layout, x_train, x_test),
            warnings=notes, **tables)
        competition.cache_status = build.save(competition, stats)
    return competition


def _finish(competition: Competition, min_class_rows: int, declared: overview_file.Overview) -> Competition:
    check_sample_format(Layout(competition.path), declared, competition.classes.tolist())
    competition.overview = declared
    classes, counts = np.unique(competition.y_train, return_counts=True)
    competition.warnings += class_warnings(classes, counts, min_class_rows,
                                           Layout(competition.path).train_csv)
    for message in competition.warnings:
        warnings.warn(message, CompetitionDataWarning, stacklevel=3)
    return competition


def class_names(folder: str | Path, classes: list) -> list[str]:
    """Display names of ``classes``: from the folder's optional ``classes.csv`` (``class,name``, as
    Kaggle's data pages describe labels), else the labels themselves. A label listed twice, a blank
    name or one name for two labels is refused: a report would mislabel its rows."""
    path = Layout(Path(folder)).classes_csv
    if not path.is_file():
        return [str(c) for c in classes]
    table = read_csv(path)
    if len(table) != 2:
        raise CompetitionDataError(f"{path}: expected two columns (class,name), got {', '.join(table) or 'none'}")
    labels, names = table.values()
    for what, values in (("label", labels), ("name", names)):
        blank = [row for row, value in enumerate(values) if not value]
        if blank:
            raise CompetitionDataError(f"{path}, line {blank[0] + 2}: blank {what}")
        seen: dict[str, int] = {}
        for row, value in enumerate(values):
            if value in seen:
                raise CompetitionDataError(f"{path}, lines {seen[value] + 2} and {row + 2}: {what} {value!r} "
                                           "is listed twice")
            seen[value] = row
    named = dict(zip(labels, names))
    known = {str(c) for c in classes}
    unknown = [label for label in labels if label not in known]
    if unknown:
        warnings.warn(f"{path}: names label(s) {', '.join(unknown[:3])}{' ...' if len(unknown) > 3 else ''} that "
                      f"train.csv does not have (its labels: {', '.join(sorted(known)[:5])}...)",
                      CompetitionDataWarning, stacklevel=2)
    return [named.get(str(c), str(c)) for c in classes]


def identical_across(x_train: np.ndarray, x_test: np.ndarray) -> list[tuple[int, int]]:
    """``(test row, train row)`` for every test image whose exact pixels a train image has: a leak
    (its label is in train.csv). A digest of each image's bytes: 70,000 28x28 images in about 0.3 s,
    and no second copy of the pixels in memory."""
    def digests(images: np.ndarray) -> list[bytes]:
        pixels, size = memoryview(np.ascontiguousarray(images)).cast("B"), int(np.prod(images.shape[1:]))
        return [hashlib.sha1(pixels[i * size:(i + 1) * size], usedforsecurity=False).digest()
                for i in range(len(images))]

    train_row = {digest: row for row, digest in enumerate(digests(x_train))}
    return [(row, train_row[digest]) for row, digest in enumerate(digests(x_test)) if digest in train_row]


def near_across(x_train: np.ndarray, x_test: np.ndarray) -> list[tuple[int, int]]:
    """``(test row, train row)`` for every test image that is a near copy of a train image (not the
    same pixels: re-encoded, resized, grey, brighter), by the rule ``prepare``'s leak check decides with."""
    from ..prepare.duplicates import near_copies
    from ..prepare.sources import thumbnail

    images = [x_train, x_test]
    thumbnails = np.stack([thumbnail(image.squeeze(axis=2) if image.shape[2] == 1 else image)
                           for part in images for image in part]) if len(x_train) and len(x_test) else None
    if thumbnails is None:
        return []
    n_train = len(x_train)
    return sorted({(int(j) - n_train, int(i)) for i, j, _ in near_copies(thumbnails)
                   if i < n_train <= j})


def describe_leaks(competition: Competition) -> str:
    found = identical_across(competition.x_train, competition.x_test)
    if not found:
        return "none: no test image has the pixels of a train image"
    shown = ", ".join(f"test {competition.test_ids[t]} = train {competition.train_ids[r]}" for t, r in found[:3])
    return f"{len(found):,} test images have the pixels of a train image ({shown}{', ...' if len(found) > 3 else ''})"


def describe_near(competition: Competition) -> str:
    exact = {t for t, _ in identical_across(competition.x_train, competition.x_test)}  # said on the line above
    found = [(t, r) for t, r in near_across(competition.x_train, competition.x_test) if t not in exact]
    if not found:
        return "none: no test image is a near copy of a train image"
    tests = len({t for t, _ in found})
    shown = ", ".join(f"test {competition.test_ids[t]} ~ train {competition.train_ids[r]}" for t, r in found[:3])
    return (f"{tests:,} test images are near copies of a train image (re-encoded, resized, grey or brighter: "
            f"{shown}{', ...' if len(found) > 3 else ''})")


def summary(competition: Competition, seconds: float | None = None, max_classes: int = 20) -> str:
    """A one-screen description of a loaded competition."""
    c = competition
    h, w, channels = c.image_shape
    lines = [
        f"competition  {c.name}  ({c.path})",
        f"train        {len(c.train_ids):,} images, labels from column '{c.label_column}' of train.csv",
        f"test         {len(c.test_ids):,} images, in the order of test_sample.csv",
        f"images       {describe_shape(c.image_shape)}  (array {h}x{w}x{channels} uint8)",
        f"classes      {c.n_classes}, labels {'integers' if c.y_train.dtype.kind == 'i' else 'strings'}",
        f"metric       {c.overview.metric} ({'higher' if c.overview.higher_is_better else 'lower'} is better), "
        f"submissions of {c.overview.submission}",
    ]
    classes, counts = np.unique(c.y_train, return_counts=True)
    names = class_names(c.path, classes.tolist())
    labels = [str(k) if name == str(k) else f"{k} {name}" for k, name in zip(classes.tolist(), names)]
    width = max(len(label) for label in labels[:max_classes])
    for label, n in list(zip(labels, counts))[:max_classes]:
        share = n / len(c.y_train)
        lines.append(f"  {label:<{width}}  {n:>8,}  {share:6.1%}  {'#' * round(share * 100)}")
    if len(classes) > max_classes:
        lines.append(f"  ... and {len(classes) - max_classes} more classes")
    loaded = f", loaded in {seconds:.2f} s" if seconds is not None else ""
    lines.append(f"cache        {c.cache_status}{loaded}")
    lines.append(f"fingerprint  {c.fingerprint[:16]}")
    lines.append(f"identical    {describe_leaks(c)}")
    lines.append(f"near copies  {describe_near(c)}")
    lines += [f"warning      {message}" for message in c.warnings] or ["warnings     none"]
    return "\n".join(lines)


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(prog="python -m competition.data",
                                description="Check and describe a competition folder.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate a competition folder and print its summary")
    check.add_argument("folder", type=Path, help="competition folder (with train.csv, test_sample.csv, images/)")
    check.add_argument("--no-cache", action="store_true",
                       help="decode every image, neither using nor writing the cache")
    check.add_argument("--folds", type=cli.int_at_least(2), default=cli.FOLDS,
                       help=f"warn about classes with fewer rows than this (default {cli.FOLDS})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompetitionDataWarning)  # the summary lists them
        competition = load_competition(args.folder, cache=not args.no_cache, min_class_rows=args.folds)
    print(summary(competition, time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
