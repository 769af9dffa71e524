"""The import graph of mitraseti/: no cycles between modules, none between its packages,
and no import of the packages built on top of it (one-way: notebooks, extension ->
mitraseti_server -> mitraseti).

Every import counts, including those inside functions and ``import_module("...")`` calls
with a literal name: a function-level import only hides a cycle, it does not remove it.
Commands of other packages reach the CLI through the ``mitraseti.cli`` entry points, which
are not imports.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mitraseti

PACKAGE = Path(mitraseti.__file__).resolve().parent
UPPER_PACKAGES = ("mitraseti_server", "mitraseti_extension")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".")[: None if is_package else -1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _imports(path: Path, module: str, known: set[str]) -> dict[str, int]:
    """Every module ``path`` imports -> the line of its first import."""
    found: dict[str, int] = {}
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.level, node.module)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(
                node.func, "attr", None)) == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and not node.args[0].value.startswith(".")):
            targets = [node.args[0].value]
        for target in targets:
            found.setdefault(target, node.lineno)
    return found


def _graph() -> dict[str, dict[str, int]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, name, set(paths)) for name, path in paths.items()}


def _cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one node, or a node importing itself
    (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    found.append(component)
    return found


def _describe(cycle: set[str], graph: dict[str, dict[str, int]], group=lambda m: m) -> str:
    lines = [f"{a}:{line} imports {b}" for a in sorted(graph) for b, line in
             sorted(graph[a].items()) if group(a) in cycle and group(b) in cycle
             and group(a) != group(b) or (a == b and a in cycle)]
    return "cycle " + " <-> ".join(sorted(cycle)) + ":\n  " + "\n  ".join(lines)


def _package_of(module: str) -> str:
    """``mitraseti.signals.cadence`` -> ``mitraseti.signals``; top-level modules stay."""
    return ".".join(module.split(".")[:2])


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return _graph()


def test_no_import_cycles_between_modules(graph):
    edges = {m: {t for t in targets if t in graph} for m, targets in graph.items()}
    cycles = _cycles(edges)
    assert not cycles, "\n".join(_describe(c, graph) for c in cycles)


def test_no_import_cycles_between_packages(graph):
    edges: dict[str, set[str]] = {}
    for module, targets in graph.items():
        mine = edges.setdefault(_package_of(module), set())
        mine.update(_package_of(t) for t in targets
                    if t in graph and _package_of(t) != _package_of(module))
    cycles = _cycles(edges)
    assert not cycles, "\n".join(_describe(c, graph, _package_of) for c in cycles)


def test_mitraseti_never_imports_the_packages_above_it(graph):
    upward = [f"{m}:{line} imports {t}" for m, targets in sorted(graph.items())
              for t, line in targets.items() if t.split(".")[0] in UPPER_PACKAGES]
    assert not upward, "\n".join(upward)


def test_the_checker_sees_hidden_cycles(tmp_path):
    """The graph builder counts function-level and import_module imports."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert sorted(map(sorted, _cycles(edges))) == [["a", "b", "c"], ["d"]]
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from .x import y\n    import_module('mitraseti_server.app')\n")
    assert _imports(src, "mitraseti.pkg.m", {"mitraseti.pkg.x.y"}) == {
        "mitraseti.pkg.x.y": 2, "mitraseti_server.app": 3}
