"""The floors ``docs/README.md`` draws for the run folder and cross-validation, imports inside
functions and under ``TYPE_CHECKING`` included: ``runs`` below everything that writes or reads
runs, ``analysis`` below ``cv`` (``cv --report`` draws through it), ``cv`` below its users."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "competition"

# package -> the packages and modules of ``competition`` it must never import
FLOORS = {
    "runs": ("cv", "tune", "shift", "submit", "analysis", "grade", "server", "client", "prepare"),
    "analysis": ("cv", "tune", "shift", "submit", "server", "client"),
    "cv": ("tune", "shift", "submit", "server", "client"),
}


def imported(path: Path, source: str | None = None) -> set[str]:
    """Every ``competition`` module or package ``path`` (or ``source`` read as if it were there)
    imports anywhere in it, as dotted names relative to ``competition`` (``runs.folder``, ``cv``)."""
    here = path.relative_to(PACKAGE).with_suffix("").parts
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.removeprefix("competition.") for alias in node.names
                      if alias.name.startswith("competition.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
            elif (node.module or "").startswith("competition"):
                base = []
            else:
                continue
            named = (node.module or "").removeprefix("competition").lstrip(".").split(".")
            module = ".".join([*base, *named]).strip(".")
            found |= {f"{module}.{alias.name}".strip(".") for alias in node.names}
    return found


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_no_arrow_points_up(package):
    above = FLOORS[package]
    for path in sorted((PACKAGE / package).rglob("*.py")):
        up = sorted(name for name in imported(path) if name.split(".")[0] in above)
        assert not up, f"{path.relative_to(PACKAGE.parent)} imports {', '.join(up)}, a floor above {package}"


def test_the_check_sees_a_lazy_import_up():
    """The walk finds an import inside a function and one under TYPE_CHECKING, relative or absolute."""
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..cv import obtain\n"
              "def f():\n    from competition.submit import main\n    from ..analysis.report import run_report\n")
    found = imported(PACKAGE / "runs" / "folder.py", source)
    assert {"cv.obtain", "submit.main", "analysis.report.run_report"} <= found
