"""The package's import graph (ARCHITECTURE section 1): arrows point down only, and no two files
import each other, directly or round a circle. Imports inside functions count too: a lazy import
is still an arrow."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "yolo_stereo_trt"
# what each layer may import from the package (besides itself)
ALLOWED = {"core": set(), "backends": {"core"}, "engine": {"core", "backends"},
           "data": {"core", "backends", "engine"}, "ros": {"core", "backends"},
           "tools": {"core", "backends", "engine", "data", "ros"}}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (relative, absolute and lazy imports alike)."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] \
                    if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets |= {module} | {f"{module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_imports_itself_round_a_circle():
    graph = import_graph()
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [node, nxt] if nxt in path
                              else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [node])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_point_down_the_layers():
    wrong = [f"{m} -> {t}" for m, targets in import_graph().items() for t in targets
             if _layer(m) in ALLOWED and _layer(t) != _layer(m)
             and _layer(t) not in ALLOWED[_layer(m)]]
    assert not wrong, "imports against the layers (tools -> ros/engine/data -> backends -> " \
        "core): " + ", ".join(sorted(wrong))
