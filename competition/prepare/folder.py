"""Building a competition folder safely: beside its final place, then renamed into it.

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

import hashlib
import json
import os
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

from ..data import overview as overview_file
from ..data.records import Layout
from ..errors import InputError
from ..fsutil import lock, release_work_dir, replace_dir, sweep_stale, work_dir, write_json_atomic
from .errors import PrepareError

FORMAT = 3  # bumped when the folder's contents change, so that older builds are rebuilt


MARKER = ".prepare.json"  # in the competitor's folder: prepare built it (the recipe it was built with)


RECORD = "prepare.json"  # in the answer key's folder: the same recipe, written last


def built_by_prepare(out: Path, grader: Path) -> bool:
    """Whether ``out`` is a folder this module built (its marker, or an older build's key record)."""
    if (out / MARKER).is_file():
        return True
    try:  # builds before the marker existed: recognised by their answer key's record
        return "format" in json.loads((grader / RECORD).read_text())
    except (OSError, ValueError, TypeError):
        return False


# What a build holds: anything else in it was put there by someone else, and a rebuild would delete it.
OURS = {"competition": {"images", Layout.TRAIN, Layout.SAMPLE, Layout.CLASSES, overview_file.FILE, MARKER, ".cache",
                        ".cache.lock"},
        "grader": {Layout.SOLUTION, overview_file.FILE, RECORD, "sources.csv", "duplicates.csv", "duplicates.png"}}


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


def resolve_out(out: Path) -> Path:
    """``--out`` as an absolute path, refused when it is the current folder or holds it (a rebuild
    would replace the folder the command runs in)."""
    out = Path(os.path.abspath(out))
    if Path.cwd() == out or out in Path.cwd().parents:
        raise PrepareError(f"--out {out}: is the current folder or holds it; name a folder to build, such as "
                           "data/fashion-mnist")
    return out


def build_once(out: Path, recipe: dict, make: Callable[[Layout, Path], str]) -> Path:
    """Build ``out`` and its answer key with ``make(layout, scratch)`` (``layout``: fresh folders
    beside their final place, laid out as the final ones; ``scratch`` for anything else; it returns
    what to print) and rename them into place, unless a build with ``recipe`` is already there and
    intact. Refuses an ``out`` it did not build; an interrupted build leaves only its work folder,
    which the next run sweeps."""
    grader = Layout(out).grader
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
            new = Layout(tmp / out.name)
            new_out, new_grader = new.root, new.grader
            scratch = tmp / "scratch"
            scratch.mkdir()
            done = make(new, scratch)
            check_gradable(new, out)
            write_json_atomic(new_out / MARKER, {"recipe": recipe, "csv_sha256": {
                path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (new.train_csv, new.sample_csv)},
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


def check_gradable(new: Layout, out: Path) -> None:
    """What ``prepare`` is about to put in place is what ``serve`` and ``grade`` accept: the grader's
    own checks run on the new folders (a key with no Public row, labels that read as one, a metric the
    key cannot score), and a refusal is ``prepare``'s, before anything is replaced."""
    from ..grade.grader import Grader

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Grader(new.root)  # and its answer key, where the grader reads it
    except InputError as exc:
        message = str(exc).replace(str(new.grader), str(Layout(out).grader)).replace(str(new.root), str(out))
        raise PrepareError(f"the competition would not be gradable: {message}") from None


def _recorded(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
