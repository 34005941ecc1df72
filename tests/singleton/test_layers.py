"""The rooms of ``singleton/`` import only downwards: lease ← starter ← functions.

The lease knows nothing of Durable or HTTP, the starter nothing of HTTP, and nothing in the
library imports the local host (which the wheel's ``devhost`` extra brings separately).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "singleton"

#: What each room may not import (by module prefix).
FORBIDDEN = {
    "lease": ("singleton.starter", "singleton.functions", "azure", "devhost"),
    "starter": ("singleton.functions", "azure.functions", "devhost"),
    "functions": ("devhost",),
    "": ("devhost",),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _room(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else ""


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_each_module_imports_only_the_rooms_below_it(path: Path) -> None:
    forbidden = FORBIDDEN.get(_room(path), FORBIDDEN[""])
    offending = sorted(
        name
        for name in _imports(path)
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    )
    assert offending == [], f"{path.relative_to(PACKAGE)} imports {offending}"


def test_the_layout_has_the_three_rooms() -> None:
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert {"lease", "starter", "functions"} <= rooms
