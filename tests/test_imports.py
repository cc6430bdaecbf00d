"""The layers stay layers. No module-level import circle inside ``competition`` (each module's imports
as written at its top level form a graph without cycles; imports inside functions and under ``if
TYPE_CHECKING:`` are not edges of that graph). And every arrow points down as docs/README.md
promises (its "layout, by role"), counting every import however it is made, in a function or for a
type checker too: the floor imports nothing above it, the competitor's client never imports the
grader server, and each package imports only the packages below it (``LAYERS``)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "competition"


def module_names(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of ``package`` (a package is its ``__init__.py``)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported_by(node: ast.stmt, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that one statement imports (none if it is no import), as ``module`` sees
    them: a relative import resolved, a name imported from a module counted as that module."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = ".".join(here[:len(here) - node.level + 1]) if node.level else ""
        target = ".".join(part for part in (base, node.module or "") if part)
        # ``from . import cache``: a module; ``from .data import x``: a name
        names = [f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target for alias in node.names]
    else:
        return set()
    found = set()
    for name in names:
        while name and name not in known:  # ``competition.data.loader.load_competition`` -> its module
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def top_level_imports(tree: ast.Module, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` imports when it is imported."""
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue  # runs when called
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            found.update(imported_by(node, module, is_package, known))
            for field in ("body", "orelse", "finalbody", "handlers"):  # if/try/with/for/class bodies
                inner = getattr(node, field, None)
                if isinstance(inner, list):
                    visit(inner)

    visit(tree.body)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    modules = module_names(package)
    return {name: top_level_imports(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py",
                                    set(modules))
            for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (``[a, b, a]``), or None when the graph is acyclic."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_module_level_import_circle_in_competition():
    graph = import_graph(PACKAGE)
    assert {"competition.data.loader", "competition.data.records", "competition.models.pixels"} <= set(graph)
    assert ("competition.data.records" in graph["competition.data.cache"]
            and "competition.data.cache" in graph["competition.data.loader"])
    cycle = find_cycle(graph)
    assert cycle is None, "module-level import circle: " + " -> ".join(cycle)


def test_the_check_sees_a_circle_and_ignores_imports_made_late(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("try:\n    from .sub.c import thing\nexcept ImportError:\n    pass\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import x\n"
                                          "def late():\n    from .. import a\n")
    assert find_cycle(import_graph(package)) is None
    (package / "sub" / "c.py").write_text("class Holder:\n    from ..a import x\n")
    assert find_cycle(import_graph(package)) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]


FLOOR = {"cli", "errors", "fsutil", "clock", "workers", "extras", "wire"}  # no knowledge above; everyone imports them
SHIMS = {"__main__", "report", "track", "leaderboard", "upload", "compare"}  # the commands' entries
LAYERS = {  # package -> the packages (beyond the floor) it may import: docs/README.md's arrows
    "data": set(), "models": set(), "grade": {"data"}, "prepare": {"data", "grade"}, "runs": {"data"},
    "analysis": {"data", "runs", "grade"}, "cv": {"data", "models", "runs", "analysis"},
    "tune": {"data", "models", "runs", "cv"}, "shift": {"data", "models", "runs", "cv", "analysis"},
    "client": {"data"}, "server": {"data", "grade"},
    "submit": {"data", "models", "runs", "cv", "grade", "analysis", "client"},
}
UP_ARROWS_LEFT = {  # arrows up that other work removes; none may be added
    ("data", "prepare"): "data/loader.py's leak check calls prepare/duplicates.py and prepare/sources.py",
}


def every_import(tree: ast.Module, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` imports anywhere: at its top, in a function, under
    ``if TYPE_CHECKING:``."""
    return {name for node in ast.walk(tree) for name in imported_by(node, module, is_package, known)}


def layer(module: str) -> str:
    """``competition.server.app`` -> ``server``; ``competition.cli`` -> ``cli``; the package -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def arrows(package: Path) -> set[tuple[str, str, str]]:
    """``(importing layer, imported layer, importing module)`` for every import across layers."""
    modules = module_names(package)
    found = set()
    for name, path in modules.items():
        for target in every_import(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py",
                                   set(modules)):
            if layer(name) != layer(target):
                found.add((layer(name), layer(target), name))
    return found


def wrong_arrows(found: set[tuple[str, str, str]]) -> list[str]:
    """Each arrow that the layers do not allow, as ``module -> layer``."""
    wrong = []
    for source, target, module in sorted(found):
        if source in FLOOR:
            allowed = target in FLOOR
        elif source in SHIMS or source == "__init__":
            allowed = True
        else:
            assert source in LAYERS, f"{source}: a new layer; say in LAYERS (and docs/README.md) what it may import"
            allowed = target in FLOOR or target in LAYERS[source] or (source, target) in UP_ARROWS_LEFT
        if not allowed:
            wrong.append(f"{module} -> {target}")
    return wrong


def test_every_import_points_down_the_layers_lazy_and_type_checking_ones_too():
    found = arrows(PACKAGE)
    assert ("client", "wire", "competition.client.download") in found  # the check sees the client's imports
    assert not [module for source, target, module in found if source == "client" and target == "server"], \
        "the competitor's client imports the grader server"
    assert wrong_arrows(found) == []


def test_the_layer_check_sees_lazy_and_type_checking_imports(tmp_path):
    package = tmp_path / "competition"
    for folder in ("client", "server"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "wire.py").write_text("")
    (package / "server" / "app.py").write_text("from ..wire import x\n")
    (package / "client" / "upload.py").write_text("def late():\n    from ..server.app import thing\n")
    (package / "client" / "download.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                                    "    from competition.server import app\n")
    (package / "cli.py").write_text("import competition.client.upload\n")
    assert wrong_arrows(arrows(package)) == ["competition.cli -> client", "competition.client.download -> server",
                                             "competition.client.upload -> server"]
