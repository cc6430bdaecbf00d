"""The README is a front page and every page it leads to is there: each relative link in the
repository's Markdown resolves to a file, and each ``#anchor`` to a heading of its page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
FRONT_PAGE_LINES = 200
# the repository's own pages (the top-level leaderboard.md is the user's, drawn by grade)
PAGES = sorted([ROOT / "README.md", ROOT / "data" / "README.md", *(ROOT / "results").glob("*.md"),
                *(ROOT / "docs").glob("*.md")])


def parsed(path: Path) -> list:
    return MarkdownIt("commonmark").enable("table").parse(path.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor on a page, a repeated heading's with GitHub's ``-1``, ``-2`` ..."""
    found, tokens = set(), parsed(path)
    for opening, inline in zip(tokens, tokens[1:]):
        if opening.type == "heading_open":
            base = slug(inline.content)
            name, n = base, 0
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def links(path: Path) -> list[str]:
    """Every link and image target on a page (code blocks and code spans are not links)."""
    targets = []
    for token in parsed(path):
        for child in token.children or []:
            if child.type == "link_open":
                targets.append(child.attrs["href"])
            elif child.type == "image":
                targets.append(child.attrs["src"])
    return targets


def broken(path: Path) -> list[str]:
    """The relative links of ``path`` that lead nowhere: a missing file, or an anchor its page lacks."""
    problems = []
    for target in links(path):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # another site: not this test's business (no network)
        file = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not file.exists():
            problems.append(f"{target}: no such file")
        elif parts.fragment and file.suffix == ".md" and unquote(parts.fragment) not in anchors(file):
            problems.append(f"{target}: no such heading in {file.name}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken(page) == []


def test_the_readme_is_a_front_page_that_leads_to_every_docs_page():
    readme = ROOT / "README.md"
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= FRONT_PAGE_LINES
    linked = {(readme.parent / urlsplit(t).path).resolve() for t in links(readme) if not urlsplit(t).scheme}
    linked |= {(ROOT / "docs" / urlsplit(t).path).resolve() for t in links(ROOT / "docs" / "README.md")
               if not urlsplit(t).scheme}
    assert sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.resolve() not in linked) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## The grader server under load (`python bench/server.py`)\n"
                                       "\n## Notes\n\n## Notes\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n## Two commands\n\n"
                    "[ok](other.md#the-grader-server-under-load-python-benchserverpy) [ok](#two-commands) "
                    "[ok](other.md#notes-1) "
                    "[gone](gone.md) [no heading](other.md#nowhere) [web](https://example.org/x.md)\n\n"
                    "`[not a link](gone.md)`\n\n```\n[not a link](gone.md)\n```\n")
    assert broken(page) == ["gone.md: no such file", "other.md#nowhere: no such heading in other.md"]
