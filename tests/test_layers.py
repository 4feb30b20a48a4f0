"""The layers of the design import only the ones above them (docs: DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "agenthub"

# A layer and the agenthub packages it must never import (those below it).
FORBIDDEN = {
    "errors.py": ("agenthub.patterns", "agenthub.runtime", "agenthub.api", "agenthub.cli"),
    "patterns": (
        "agenthub.runtime",
        "agenthub.api",
        "agenthub.cli",
        "agenthub.determinism",
        "agenthub.agents",
    ),
    "runtime": ("agenthub.api", "agenthub.cli", "agenthub.agents"),
    "agents": ("agenthub.api", "agenthub.cli"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_below(layer: str) -> None:
    root = SRC / layer
    files = [root] if root.is_file() else sorted(root.rglob("*.py"))
    wrong = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in files
        for name in _imports(path)
        if name.startswith(FORBIDDEN[layer])
    ]
    assert not wrong, "\n".join(wrong)
