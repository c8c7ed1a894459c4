"""The package's import graph runs one way, and the handler table has one writer.

Every import counts, also those inside functions and under ``TYPE_CHECKING``: a cycle
hidden behind a lazy import is still a cycle in the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "beaker_kernel"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # ``from . import x`` may name a submodule
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("beaker_kernel")}


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        graph[name] = {target for target in _imports(path, name) if target in files}
        graph[name].discard(name)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _parent_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph without the edges from a module to the packages that contain it."""
    return {
        node: {t for t in targets if not node.startswith(t + ".")}
        for node, targets in graph.items()
    }


def test_import_graph_has_no_cycle() -> None:
    cycle = _cycle(_parent_packages(import_graph()))
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_plugins_never_import_the_kernel_package() -> None:
    graph = import_graph()
    offenders = {
        module: sorted(t for t in targets if t.startswith("beaker_kernel.kernel"))
        for module, targets in graph.items()
        if not module.startswith(("beaker_kernel.kernel", "beaker_kernel.cli"))
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def test_only_the_handler_table_touches_its_entries() -> None:
    writers = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "._entries" in path.read_text() and path.name != "handlers.py"
    ]
    assert writers == []
