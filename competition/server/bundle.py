"""The competitor's folder as one zip, for ``GET /api/data`` (``kaggle competitions download``).

The zip holds what a competitor needs and nothing of the host's: the images, ``train.csv``,
``test_sample.csv`` and the other plain files of the competition folder; never a hidden entry (the
loader's caches), a link, or the answer key (which lives beside the folder, and is excluded by path
too in case a host keeps it inside). It is built once, deterministically (sorted names, a fixed
timestamp, images stored as they are: PNGs are compressed already), so the same folder always gives
the same bytes and the same sha256, which the server sends in a header and the client checks.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..fsutil import atomic_open, sha256_file

DATA_SHA256_HEADER = "X-Content-SHA256"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
COMPRESSED = (".csv", ".json", ".txt", ".md")  # text is worth deflating; images are not


def competition_files(root: Path, exclude: list[Path] = ()) -> list[Path]:
    """The regular files under ``root`` a competitor gets, sorted by their path in the zip."""
    excluded = {Path(p).resolve() for p in exclude}
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(folder, d)))
        for name in files:
            path = Path(folder) / name
            if name.startswith(".") or path.is_symlink() or not path.is_file() or path.resolve() in excluded:
                continue
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def pack_competition(root: Path, into: Path, exclude: list[Path] = ()) -> tuple[Path, str]:
    """Write ``into/<folder name>.zip`` (atomically) from the competition folder ``root``; return its
    path and sha256."""
    root = Path(root)
    target = Path(into) / f"{root.name}.zip"
    with atomic_open(target) as raw:
        with zipfile.ZipFile(raw, "w") as bundle:
            for path in competition_files(root, exclude):
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED if path.suffix.lower() in COMPRESSED else zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16
                bundle.writestr(info, path.read_bytes())
    return target, sha256_file(target)
