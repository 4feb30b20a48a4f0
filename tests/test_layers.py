"""The layers of ``src/agenthub`` import only the ones above them, and no modules import each
other in a circle (the design's map: errors, patterns, runtime, agents, the hub's assembly,
API and CLI; see README "Layout").

Every import counts, at module level or inside a function (a lazy import is an arrow all
the same); imports only for type checkers (``if TYPE_CHECKING:``) do not. Importing
``a.b.c`` also runs the package ``a.b``'s ``__init__``, so that is an arrow too (except the
top package ``agenthub``, which every import runs, and the packages around the importing
module, which are already being imported when it runs)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "agenthub"

LAYERS = [
    ("agenthub._version", 0),
    ("agenthub.errors", 0),
    ("agenthub.patterns", 1),
    ("agenthub.determinism", 2),
    ("agenthub.runtime", 3),
    ("agenthub.agents", 4),
    ("agenthub.determinism.replay", 5),
    ("agenthub.testing", 6),
    ("agenthub.agents.testing", 7),
    ("agenthub.api", 8),
    ("agenthub.service", 9),
    ("agenthub.cluster", 9),
    ("agenthub.cli", 10),
    ("agenthub", 11),
]
"""Each module's layer is its longest matching prefix; a module may import its own layer
or those with a lower number."""


def layer_of(module: str) -> int:
    matches = [(len(p), rank) for p, rank in LAYERS if module == p or module.startswith(p + ".")]
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}


def _resolve(name: str) -> str:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Ids of import nodes inside ``if TYPE_CHECKING:`` blocks."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def imports_of(module: str) -> set[str]:
    """The agenthub modules ``module`` imports (and the packages whose ``__init__`` that runs)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if not name.startswith("agenthub"):
                continue
            target = _resolve(name)
            found.add(target)
            parent = target.rpartition(".")[0]
            # The packages whose __init__ runs, but for those around ``module`` itself
            # (they are being imported already when it runs).
            while parent and parent != "agenthub" and not module.startswith(parent + "."):
                found.add(parent)
                parent = parent.rpartition(".")[0]
    found.discard(module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_no_module_imports_a_layer_below_its_own() -> None:
    wrong = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in sorted(GRAPH.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert not wrong, "\n".join(wrong)


def _circles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return groups


def test_no_modules_import_each_other_in_a_circle() -> None:
    circles = [
        " -> ".join(f"{m} (imports {sorted(t for t in GRAPH[m] if t in group)})" for m in group)
        for group in _circles()
    ]
    assert not circles, "\n".join(circles)


def test_the_checks_see_lazy_imports_and_skip_type_checking_ones() -> None:
    # A function-level import is an arrow: runtime's worker loads user apps lazily.
    assert "agenthub.patterns._sdk" in GRAPH["agenthub.runtime.worker"]
    # An import only for type checkers is not (the registry names AgentSpec for mypy).
    assert "agenthub.agents.spec" not in GRAPH["agenthub.agents.registry"]


def test_cli_modules_import_only_the_common_module_and_the_library() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in sorted(GRAPH.items())
        if module.startswith("agenthub.cli.")
        for target in sorted(targets)
        if target.startswith("agenthub.cli.") and target != "agenthub.cli._common"
    ]
    assert not wrong, "\n".join(wrong)
