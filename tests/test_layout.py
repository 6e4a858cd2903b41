"""The package's layout shows the path of the data: each module imports only from floors below it."""

from __future__ import annotations

import ast
from pathlib import Path

import microgrsucc

PACKAGE = Path(microgrsucc.__file__).parent

# The engine's floors, bottom up; everything else sits on top of them.
FLOORS = ["ops", "core", "backward", "pickling", "value", "recording", "functions"]


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    name = ".".join(p for p in parts if p != "__init__")
    return name or "__init__"


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for each import of a microgrsucc module run at import time.

    Imports under ``if TYPE_CHECKING:`` are for the type checker only and are left out.
    """
    found = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.ImportFrom) and sub.module and sub.module.startswith("microgrsucc"):
                target = sub.module.removeprefix("microgrsucc").lstrip(".")
                names = [alias.name for alias in sub.names]
                if not target:  # from microgrsucc import ops, nn
                    found += [(name, []) for name in names]
                else:
                    found.append((target, names))
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        module = _module(path)
        graph[module] = {t for t, _ in _imports(path) if t != module and t != "__init__"}
    return graph


def test_no_module_imports_in_a_circle() -> None:
    graph = _graph()
    done: set[str] = set()
    for start in graph:
        path, stack = [], [(start, iter(sorted(graph[start])))]
        on_path = {start}
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(node)
                done.add(node)
                continue
            child = child if child in graph else child.rsplit(".", 1)[0]
            assert child not in on_path, f"import circle: {' -> '.join([*path, node, child])}"
            if child not in done and child in graph:
                on_path.add(child)
                stack.append((child, iter(sorted(graph[child]))))


def test_the_engine_floors_import_only_downward() -> None:
    graph = _graph()
    for i, module in enumerate(FLOORS):
        below = set(FLOORS[:i])
        # A floor that is a package (ops: primitive, elementary, activations) imports its own modules.
        inside = [m for m in graph if m == module or m.startswith(f"{module}.")]
        imported = {t for m in inside for t in graph[m]} - set(inside)
        assert imported <= below, f"{module} imports {imported - below}"


def test_no_module_imports_a_siblings_private_name() -> None:
    for path in PACKAGE.rglob("*.py"):
        for target, names in _imports(path):
            private = [n for n in names if n.startswith("_")]
            assert not private, f"{_module(path)} imports {private} from {target}"


def test_no_module_is_over_400_lines() -> None:
    for path in PACKAGE.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path
