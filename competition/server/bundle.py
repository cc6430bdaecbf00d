"""The competitor's folder as one zip, for ``GET /api/data`` (``kaggle competitions download``).

The zip holds exactly the competitor's files and nothing else found in the folder: ``train.csv``,
``test_sample.csv``, ``classes.csv`` and ``competition.json`` when the folder has them, and the
``{id}.png`` images of ``images/train`` and ``images/test`` (regular files, never a link or a hidden
entry). What a host keeps in or beside the folder (an answer key, a corrected key, the grader's
database and its WAL files, kept uploads, notes) is not the competitor's and never listed, whatever
its name. It is built once, deterministically (sorted names, a fixed timestamp, images stored as
they are: PNGs are compressed already), so the same folder always gives the same bytes and the same
sha256, which the server sends in a header and the client checks.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..data.overview import FILE
from ..data.records import Layout
from ..fsutil import atomic_open, sha256_file

FIXED_TIME = (2020, 1, 1, 0, 0, 0)
COMPRESSED = (".csv", ".json", ".txt", ".md")  # text is worth deflating; images are not


TABLES = ("train.csv", "test_sample.csv", "classes.csv", FILE)  # the loader's tables and the overview


def competition_files(root: Path) -> list[Path]:
    """The competitor's regular files under ``root`` (``TABLES`` and the two image folders' PNGs),
    sorted by their path in the zip: the one list the zip, the data page and the Kaggle routes give.
    A list of what may go, not of what may not: an answer key, wherever the host keeps it, is none of these."""
    root = Path(root)
    layout = Layout(root)
    found = [root / name for name in TABLES]
    for folder in (layout.train_images, layout.test_images):
        if folder.is_dir() and not folder.is_symlink():
            found += [folder / name for name in os.listdir(folder)
                      if name.endswith(".png") and not name.startswith(".")]
    found = [path for path in found if not path.is_symlink() and path.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def pack_competition(root: Path, into: Path) -> tuple[Path, str]:
    """Write ``into/<folder name>.zip`` (atomically) from the competition folder ``root``; return its
    path and sha256."""
    root = Path(root)
    target = Path(into) / f"{root.name}.zip"
    with atomic_open(target) as raw:
        with zipfile.ZipFile(raw, "w") as bundle:
            for path in competition_files(root):
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED if path.suffix.lower() in COMPRESSED else zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16
                bundle.writestr(info, path.read_bytes())
    return target, sha256_file(target)
