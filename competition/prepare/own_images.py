"""The build from the host's own images: read (``sources``), fit to one size and mode, find copies
of one picture (``duplicates``), split them by group (``splits``) and write the competition, with
``sources.csv`` (id -> file) and the leak report beside the answer key.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .. import cli
from ..data import metrics
from ..data import overview as overview_file
from ..data.records import Layout
from . import duplicates, sources
from .errors import PrepareError, PrepareWarning
from .folder import FORMAT, build_once, resolve_out
from .splits import PUBLIC_FRACTION, public_rows, split_by_group, test_share, usage
from .write import CHUNK, in_workers, write_competition


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


def build_from_images(listing: sources.Listing, layout: Layout, scratch: Path, *,
                      test_size: float, public: float, size: tuple[int, int] | None, fit: str, mode: str | None,
                      seed: int, keep_duplicates: bool, strict: bool, declared: overview_file.Overview) -> str:
    """Read, fit, check for copies, split and write: the image-folder source's ``make`` for ``build_once``."""
    import pandas as pd

    files = listing.files
    chunks = [range(i, min(i + CHUNK, len(files))) for i in range(0, len(files), CHUNK)]
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
    for folder, rows in ((layout.train_images, ~test), (layout.test_images, test)):
        folder.mkdir(parents=True)
        for k in np.flatnonzero(rows):
            os.rename(scratch / f"{good[kept[k]]}.png", folder / f"{ids[k]}.png")
    order = np.argsort(ids.astype(np.int64), kind="stable")
    train_rows, test_rows = order[~test[order]], order[test[order]]
    is_public = public_rows(y[test_rows], public, rng)
    write_competition(layout, pd.DataFrame({"id": ids[train_rows], "class": y[train_rows]}),
                      pd.DataFrame({"id": ids[test_rows], "class": y[test_rows], "Usage": usage(is_public)}),
                      declared)
    pd.DataFrame({"id": ids[order], "file": [shown[kept[k]] for k in order],
                  "split": np.where(test[order], "test", "train")}).to_csv(layout.grader / "sources.csv", index=False)
    for name in ("duplicates.csv", "duplicates.png"):
        os.rename(scratch / name, layout.grader / name)
    return (f"{len(train_rows):,} train and {len(test_rows):,} test images, {size[0]}x{size[1]} {mode}; leak check: "
            f"{groups.n_groups:,} groups of copies kept on one side, {int(groups.copy.sum()):,} exact copies "
            f"{'kept' if keep_duplicates else 'dropped'}, {len(failed):,} unreadable images skipped")


def prepare_images(images: Path, out: Path, labels: Path | None = None, *, test_size: float = 0.2,
                   public: float = PUBLIC_FRACTION, size: tuple[int, int] | None = None, fit: str = "pad",
                   mode: str | None = None, seed: int = 0, title: str | None = None, keep_duplicates: bool = False,
                   strict: bool = False, metric: str = metrics.DEFAULT) -> Path:
    """Build ``out`` and ``out.grader`` from a folder of the host's images (class sub-folders, or
    ``labels``: a CSV of file and label) unless an identical build is already there; return ``out``."""
    out, images = resolve_out(out), Path(os.path.abspath(images))
    check_images_out(images, out)
    listing = sources.find_images(images, labels and Path(os.path.abspath(labels)))
    check_label_spellings(listing.labels, labels or images)
    recipe = {"format": FORMAT, "images": str(images), "labels": str(labels) if labels else None,
              "files": listing.digest(), "test_size": test_size, "public": public,
              "size": list(size) if size else None, "fit": fit, "mode": mode, "seed": seed, "title": title,
              "keep_duplicates": keep_duplicates, "strict": strict, "metric": metric}
    declared = overview_file.declare(metric, title or out.name, public)

    def make(layout: Layout, scratch: Path) -> str:
        done = build_from_images(listing, layout, scratch, test_size=test_size, public=public,
                                 size=size, fit=fit, mode=mode, seed=seed, keep_duplicates=keep_duplicates,
                                 strict=strict, declared=declared)
        return f"wrote {out} ({done}); the answer key, sources.csv and the leak report are in {Layout(out).grader}"

    return build_once(out, recipe, make)


def check_images_out(images: Path, out: Path) -> None:
    """Nothing is written into the source folder or under it, and ``out`` must not hold it."""
    source, target = Path(os.path.realpath(images)), Path(os.path.realpath(out))
    for path in (target, Path(os.path.realpath(Layout(out).grader))):
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
