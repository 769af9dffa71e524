"""The service's layers (docs/architecture.md): every import of the package's own modules,
at any depth in a function, points down or sideways-free; no cycles; no guarded imports."""
import ast
from pathlib import Path

import mitraseti_server

ROOT = Path(mitraseti_server.__file__).parent
# a module may import from its own layer and the layers with a smaller number
LAYER = {"errors": 0, "config": 1, "storage": 2, "auth": 3, "jobs": 3, "services": 4,
         "api": 5, "app": 6, "commands": 7, "__main__": 8}
SIDE_BY_SIDE = {"auth", "jobs"}            # same level, independent of each other


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text())
    return out


def own_imports(tree: ast.Module, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.ImportFrom) and node.level), "relative import"
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known}
    return found


def layer(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def test_imports_point_down_the_layers_without_cycles():
    trees = modules()
    graph = {m: own_imports(t, set(trees)) - {m} for m, t in trees.items()}
    for module, deps in graph.items():
        for dep in deps:
            a, b = layer(module), layer(dep)
            if a == b or b == "__init__":
                continue
            assert LAYER[b] <= LAYER[a], f"{module} imports {dep}: upward"
            assert {a, b} != SIDE_BY_SIDE, f"{module} imports {dep}: auth and jobs are apart"
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in graph[m]:
            assert state.get(d) != 1, f"import cycle: {' -> '.join(path + [m, d])}"
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_no_guarded_imports_and_no_signature_sniffing():
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = ast.unparse(node.type)
                assert "ImportError" not in caught, f"{path.name}: guarded import"
            if isinstance(node, ast.Attribute) and node.attr in ("signature", "has_table"):
                raise AssertionError(f"{path.name}: .{node.attr}")
