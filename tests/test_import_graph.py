"""Every import in the package points down: no cycles, and only the CLI imports the CLI.

The graph is read from the source with :mod:`ast` (every ``import`` statement, the ones inside
functions and under ``TYPE_CHECKING`` included), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import llmgeom

ROOT = Path(llmgeom.__file__).resolve().parent


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package)."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def _resolve(target: str, modules: dict) -> str | None:
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (the nearest existing module of each name)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                found = _resolve(target, modules)
                if found and found != name and found.startswith("llmgeom"):
                    graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_lazy_imports():
    graph = import_graph()
    # llmgeom.measure loads its source inside a function body today or at the top: either way
    # the edge is there, and the CLI's subcommands reach the library
    assert "llmgeom.sources" in graph["llmgeom.geometry.measurement"]
    assert any(t.startswith("llmgeom.fits") for t in graph["llmgeom.cli.fit"])


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_only_the_cli_imports_the_cli():
    graph = import_graph()
    outside = {
        name
        for name, targets in graph.items()
        if any(t == "llmgeom.cli" or t.startswith("llmgeom.cli.") for t in targets)
        and not (name == "llmgeom.cli" or name.startswith("llmgeom.cli."))
        and name != "llmgeom.__main__"
    }
    assert outside == set()


#: The package's layers, bottom first: a module may import its own part and the parts of lower
#: layers only. Above the foundation the layers follow the data flow, checkpoint -> matrix ->
#: statistics -> fits -> reports; the record formats (``records``: the typed-result base, the
#: JSON Schemas, the measurement record's writing, merging and migration) sit below every
#: analysis, since each analysis writes records and the fits and reports read them, while a
#: record never needs an analysis (each typed result lives with the analysis that makes it).
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors"}),
    frozenset({"_lazy", "_atomic", "timing", "progress", "memory"}),
    frozenset({"__init__", "devices", "plotting", "configs", "unembedding"}),
    frozenset({"options", "records"}),
    frozenset({"fit_options"}),
    frozenset({"sources"}),
    frozenset({"geometry"}),
    frozenset({"text", "fits"}),
    frozenset({"toy"}),
    frozenset({"sweep"}),
    frozenset({"report"}),
    frozenset({"paper"}),
    frozenset({"cli"}),
    frozenset({"__main__"}),
)


def part(module: str) -> str:
    """The top-level part of the package a module belongs to (``llmgeom.sources.hub`` ->
    ``sources``; the package's own ``__init__`` -> ``__init__``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer(module: str) -> int:
    name = part(module)
    for level, members in enumerate(LAYERS):
        if name in members:
            return level
    raise AssertionError(f"{module}: part {name!r} is in no layer: add it to LAYERS")


def test_every_import_points_down():
    upward = sorted(
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        for b in targets
        if part(a) != part(b) and layer(a) <= layer(b)
    )
    assert upward == []
