"""The competition's own pages: ``/overview`` (the teacher's Markdown and what the server knows)
and ``/data`` (the files, the sample's columns, the class names, and a download that works with a
token typed once, never with a token in an address).

The Markdown is rendered by markdown-it-py with raw HTML off: a ``<script>`` in it is shown as text,
and the page runs under the server's CSP anyway. The downloads are POST forms (``form-action
'self'``): the token travels in the body, as a typed password does, so no address, history or log
ever holds it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .bundle import competition_files

OVERVIEW_FILE = "overview.md"  # in the competition folder; ``server set --overview FILE`` overrides it
DEFAULT_OVERVIEW = """## Overview

The host has not written an overview yet (`overview.md` in the competition folder, or
`python -m competition.server set --overview FILE.md`). What the server knows is below.
"""


def render_markdown(text: str) -> str:
    """HTML of the teacher's Markdown, raw HTML shown as text, links to http(s) and mailto only
    (markdown-it's ``validateLink``), tables allowed."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark",
                      {"html": False, "linkify": False, "typographer": False}).enable("table").render(text)


def overview_text(stored: dict, folder: Path) -> str:
    """The overview's Markdown: the one ``set --overview`` stored, else the folder's ``overview.md``."""
    if stored.get("overview"):
        return stored["overview"]
    path = Path(folder) / OVERVIEW_FILE
    try:
        return path.read_text(encoding="utf-8-sig") if path.is_file() else DEFAULT_OVERVIEW
    except (OSError, UnicodeDecodeError):
        return DEFAULT_OVERVIEW


def listing(folder: Path) -> list[dict]:
    """What the competitor's zip holds, a line per top-level file and per folder (its files counted:
    an image folder has thousands): ``name``, ``files``, ``bytes``."""
    folder = Path(folder)
    lines: dict[str, dict] = {}
    for path in competition_files(folder):
        parts = path.relative_to(folder).parts
        name = parts[0] if len(parts) == 1 else "/".join(parts[:2] if len(parts) > 2 else parts[:1]) + "/"
        line = lines.setdefault(name, {"name": name, "files": 0, "bytes": 0})
        line["files"] += 1
        line["bytes"] += path.stat().st_size
    return sorted(lines.values(), key=lambda line: (line["name"].endswith("/"), line["name"]))


def class_names(folder: Path, classes: list) -> list[dict]:
    """Each class as the sample writes it and, when the folder's ``classes.csv`` names it, its name."""
    names = {}
    path = Path(folder) / "classes.csv"
    if path.is_file():
        with path.open(encoding="utf-8-sig", newline="") as f:
            for row in csv.reader(f):
                if len(row) >= 2:
                    names[row[0]] = row[1]
    return [{"code": str(c), "name": names.get(str(c), "")} for c in classes]


def sample_columns(path: Path) -> list[str]:
    with Path(path).open(encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f), [])


def size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
