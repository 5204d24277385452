"""The emulator's modules import each other without a cycle, counting imports made for type hints only."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "emulator" / "hokodo_emulator"


def package_imports() -> dict[str, set[str]]:
    """module -> the package modules it imports (relative imports, wherever they are, TYPE_CHECKING included)."""
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
        graph[path.stem] = found & modules
    return graph


def test_no_import_cycles():
    graph = package_imports()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        for imported in graph[module]:
            assert imported not in path, "import cycle: " + " -> ".join((*path[path.index(imported) :], imported))
            if imported not in done:
                visit(imported, (*path, imported))
        done.add(module)

    for module in graph:
        visit(module, (module,))
    assert "app" not in graph["server"] | graph["admin_api"]
