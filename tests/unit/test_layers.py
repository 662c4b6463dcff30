"""The floor plan, read from the code: every import of every module, held against the layers.

Top-level folders import only the folders below them; inside the domain package ``tellmemore``,
subpackages import only lower floors (siblings on one floor do not import each other); no module
imports itself round a circle; Ray lives only in the adapters and HTTP serving only in ``api``
and above. Every import counts, including those under ``TYPE_CHECKING`` and inside functions:
a lazy import is still a dependency. There is no exception list: fix the import, or move the code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

# What each top-level folder may import (besides itself).
TOP_LEVEL: dict[str, frozenset[str]] = {
    "models": frozenset(),
    "tellmemore": frozenset({"models"}),
    "api": frozenset({"models", "tellmemore"}),
    "cli": frozenset({"models", "tellmemore", "api"}),
    "raykit": frozenset({"models", "tellmemore"}),
    "serve_apps": frozenset({"models", "tellmemore", "api", "raykit"}),
    "pipelines": frozenset({"models", "tellmemore", "raykit"}),
    "bench": frozenset(
        {"models", "tellmemore", "api", "cli", "raykit", "serve_apps", "pipelines", "tests"}
    ),
    "tests": frozenset(
        {"models", "tellmemore", "api", "cli", "raykit", "serve_apps", "pipelines", "bench"}
    ),
}

# The domain package's floors, bottom up. A module may import its own subpackage and any lower
# floor; the ground modules (``tellmemore/*.py`` but the composition root) import no subpackage.
FLOORS: tuple[frozenset[str], ...] = (
    frozenset({"settings", "errors", "clock", "logs", "metrics"}),
    frozenset({"storage"}),
    frozenset({"index"}),
    frozenset({"catalog", "search", "ops"}),
    frozenset({"accounts", "playlists"}),
    frozenset({"notify"}),
    frozenset({"processing"}),
    frozenset({"research"}),
    frozenset({"wiring"}),
)

# Third-party packages that belong to one layer only.
ONLY_IN: dict[str, frozenset[str]] = {
    "ray": frozenset({"raykit", "serve_apps", "pipelines", "tests", "bench"}),
    "fastapi": frozenset({"api", "serve_apps", "tests", "bench"}),
    "starlette": frozenset({"api", "serve_apps", "tests", "bench"}),
    "uvicorn": frozenset({"cli", "tests", "bench"}),
    "typer": frozenset({"cli", "serve_apps", "pipelines", "tests", "bench"}),
}


@dataclass(frozen=True)
class Edge:
    importer: str  # dotted module name
    imported: str  # dotted name as written (a module, or a module's attribute)
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> Iterator[Path]:
    for top in TOP_LEVEL:
        yield from sorted((ROOT / top).rglob("*.py"))


def _edges(path: Path) -> Iterator[Edge]:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Edge(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                yield Edge(name, f"{module}.{alias.name}", node.lineno)


ALL_EDGES = [edge for path in _sources() for edge in _edges(path)]
MODULES = {_module_name(path) for path in _sources()}


def _resolve(dotted: str) -> str | None:
    """The project module an import names (``a.b.c`` may be module ``a.b`` plus attribute
    ``c``), or None for third-party code."""
    parts = dotted.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _floor(module: str) -> tuple[int, str]:
    """``tellmemore.x.y`` -> (floor of x, x)."""
    parts = module.split(".")
    unit = parts[1] if len(parts) > 1 else ""
    for level, units in enumerate(FLOORS):
        if unit in units:
            return level, unit
    raise AssertionError(f"{module}: not on any floor; add {unit!r} to FLOORS")


def test_the_floor_plan_covers_every_folder() -> None:
    tops = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert tops <= set(TOP_LEVEL), f"packages without a layer: {sorted(tops - set(TOP_LEVEL))}"
    for module in MODULES:
        if module.startswith("tellmemore."):
            _floor(module)


def test_top_level_folders_import_only_downward() -> None:
    bad = []
    for edge in ALL_EDGES:
        target = _resolve(edge.imported)
        if target is None:
            continue
        source_top, target_top = edge.importer.split(".")[0], target.split(".")[0]
        if source_top != target_top and target_top not in TOP_LEVEL[source_top]:
            bad.append(f"{edge.importer}:{edge.line} imports {target}")
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_domain_floors_import_only_downward() -> None:
    bad = []
    for edge in ALL_EDGES:
        target = _resolve(edge.imported)
        if target is None or not edge.importer.startswith("tellmemore."):
            continue
        if not target.startswith("tellmemore."):
            continue
        (mine, my_unit), (theirs, their_unit) = _floor(edge.importer), _floor(target)
        # Ground modules may use each other (the cycle check keeps them acyclic); above the
        # ground, siblings on one floor stay independent.
        sideways = theirs == mine and my_unit != their_unit and mine != 0
        if theirs > mine or sideways:
            bad.append(f"{edge.importer}:{edge.line} (floor {mine}) imports {target} ({theirs})")
    assert not bad, "imports against the domain's floors:\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for edge in ALL_EDGES:
        target = _resolve(edge.imported)
        if target is not None and target != edge.importer:
            graph[edge.importer].add(target)
    # A package's __init__ re-exporting its own modules is its public face, not a cycle.
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not module or not t.startswith(module + ".")}
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_frameworks_stay_in_their_layers() -> None:
    bad = []
    for edge in ALL_EDGES:
        package = edge.imported.split(".")[0]
        allowed = ONLY_IN.get(package)
        if allowed is not None and edge.importer.split(".")[0] not in allowed:
            bad.append(f"{edge.importer}:{edge.line} imports {edge.imported}")
    assert not bad, "frameworks outside their layers:\n" + "\n".join(bad)


def test_modules_stay_small() -> None:
    big = []
    for path in _sources():
        if path.relative_to(ROOT).parts[0] in {"bench", "tests"}:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > 400:
            big.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not big, "modules over 400 lines (split them along a seam you can name):\n" + "\n".join(
        big
    )


def test_the_checker_sees_a_violation() -> None:
    """The checks above read real imports: a made-up upward import is caught."""
    fake = Edge("tellmemore.storage.pool", "tellmemore.catalog.service.Catalog", 1)
    (mine, _), (theirs, _) = _floor(fake.importer), _floor(_resolve(fake.imported) or "")
    assert theirs > mine
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
