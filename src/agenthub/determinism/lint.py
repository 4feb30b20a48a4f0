"""A static checker for workflow code: finds what breaks replay before it ships.

It finds workflow classes (``@workflow.defn``, and subclasses of agenthub's ``Entity``),
then walks their methods and the module's functions they call, and reports calls whose
result differs between the first run and a replay (clocks, randomness, ids, environment,
I/O, threads), iteration over sets, module-level mutable state, and two mistakes that leave
a workflow stuck: an activity run with no timeout, and a heartbeat timeout on an activity
of the same module that never heartbeats.

Each finding names the file, line and column, a rule code, what is wrong and the
deterministic replacement. ``# agenthub: ignore[AH104]`` (or a bare ``# agenthub: ignore``)
on the line silences it.

Example::

    findings = lint_paths([Path("src/")])
    for f in findings:
        print(f.format())
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["RULES", "Finding", "LintError", "Rule", "lint_paths", "lint_source"]


@dataclass(frozen=True)
class Rule:
    """A rule: its code, what is wrong, and what to use instead."""

    code: str
    problem: str
    fix: str


RULES: dict[str, Rule] = {
    r.code: r
    for r in (
        Rule("AH101", "reads the wall clock (date/time differs on replay)", "workflow.now()"),
        Rule(
            "AH102",
            "reads a system clock (differs on replay)",
            "workflow.now() or workflow.time()",
        ),
        Rule(
            "AH103",
            "time.sleep blocks the workflow thread and is not a durable timer",
            "await workflow.sleep(...) (or asyncio.sleep, which the SDK makes durable)",
        ),
        Rule("AH104", "uses unseeded randomness (differs on replay)", "workflow.random()"),
        Rule("AH105", "makes a random or time-based id (differs on replay)", "workflow.uuid4()"),
        Rule(
            "AH106",
            "reads the process environment (may differ between workers and on replay)",
            "pass it as workflow input, or read it in an activity",
        ),
        Rule(
            "AH107",
            "does I/O (files, network, processes) in workflow code",
            "an activity (workflow.execute_activity)",
        ),
        Rule(
            "AH108",
            "uses threads or processes in workflow code",
            "asyncio tasks in the workflow, or an activity",
        ),
        Rule(
            "AH109",
            "iterates over a set, whose order can differ between processes",
            "iterate over sorted(...) or a list",
        ),
        Rule(
            "AH110",
            "changes module-level state, shared by the workflow runs of a worker",
            "keep the state on the workflow instance (self)",
        ),
        Rule(
            "AH111",
            "runs an activity with no timeout (the SDK fails the workflow task, which then "
            "retries forever)",
            "start_to_close_timeout= (or schedule_to_close_timeout=)",
        ),
        Rule(
            "AH112",
            "sets a heartbeat timeout on an activity that never heartbeats (every attempt "
            "times out)",
            "activity.heartbeat() or agenthub's Heartbeat in the activity, or no heartbeat_timeout",
        ),
    )
}

_CALLS: dict[str, str] = {
    "datetime.datetime.now": "AH101",
    "datetime.datetime.utcnow": "AH101",
    "datetime.datetime.today": "AH101",
    "datetime.date.today": "AH101",
    "time.time": "AH102",
    "time.time_ns": "AH102",
    "time.monotonic": "AH102",
    "time.monotonic_ns": "AH102",
    "time.perf_counter": "AH102",
    "time.perf_counter_ns": "AH102",
    "time.localtime": "AH102",
    "time.gmtime": "AH102",
    "time.sleep": "AH103",
    "uuid.uuid1": "AH105",
    "uuid.uuid4": "AH105",
    "os.urandom": "AH104",
    "os.getrandom": "AH104",
    "os.getpid": "AH106",
    "os.cpu_count": "AH106",
    "platform.node": "AH106",
    "asyncio.to_thread": "AH108",
    "os.getenv": "AH106",
    "os.putenv": "AH106",
    "os.getenvb": "AH106",
    "open": "AH107",
    "io.open": "AH107",
    "os.system": "AH107",
    "os.popen": "AH107",
    "os.listdir": "AH107",
    "os.remove": "AH107",
    "shutil.copy": "AH107",
    "shutil.rmtree": "AH107",
    "urllib.request.urlopen": "AH107",
    "input": "AH107",
}
_MODULE_PREFIXES: dict[str, str] = {
    "random": "AH104",
    "secrets": "AH104",
    "requests": "AH107",
    "httpx": "AH107",
    "aiohttp": "AH107",
    "socket": "AH107",
    "subprocess": "AH107",
    "urllib.request": "AH107",
    "sqlite3": "AH107",
    "threading": "AH108",
    "multiprocessing": "AH108",
    "concurrent.futures": "AH108",
}
_ATTRIBUTES: dict[str, str] = {"os.environ": "AH106", "os.environb": "AH106"}
_IO_METHODS = frozenset({"read_text", "write_text", "read_bytes", "write_bytes"})
_THREAD_METHODS = frozenset({"run_in_executor"})
_ACTIVITY_CALLS = frozenset(
    f"temporalio.workflow.{verb}_{kind}"
    for verb in ("execute", "start")
    for kind in ("activity", "local_activity", "activity_method", "activity_class")
)
_TIMEOUTS = frozenset({"start_to_close_timeout", "schedule_to_close_timeout"})
_MUTABLE_CALLS = frozenset(
    {"list", "dict", "set", "bytearray", "collections.defaultdict", "collections.deque",
     "collections.OrderedDict", "collections.Counter"}
)  # fmt: skip
_MUTATORS = frozenset(
    {"append", "extend", "insert", "pop", "popitem", "remove", "clear", "add", "discard",
     "update", "setdefault", "appendleft", "extendleft"}
)  # fmt: skip
_SUPPRESS = re.compile(r"#\s*agenthub:\s*ignore(?:\[([A-Z0-9, ]+)\])?")


@dataclass(frozen=True)
class Finding:
    """One problem found in workflow code."""

    path: str
    line: int
    col: int
    code: str
    message: str

    def format(self) -> str:
        """``path:line:col: CODE message``"""
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"

    def to_dict(self) -> dict[str, object]:
        """For JSON output."""
        return asdict(self)


class LintError(Exception):
    """A path could not be read or parsed."""


class _Imports(ast.NodeVisitor):
    """Maps local names to the dotted names they stand for."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.names[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.names[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for alias in node.names:
                self.names[alias.asname or alias.name] = f"{node.module}.{alias.name}"


def _dotted(node: ast.AST, imports: dict[str, str]) -> str | None:
    """The dotted name an expression refers to, with imports resolved (``dt.now`` ->
    ``datetime.datetime.now``)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(imports.get(node.id, node.id))
    return ".".join(reversed(parts))


def _is_workflow_class(node: ast.ClassDef, imports: dict[str, str]) -> bool:
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = _dotted(target, imports) or ""
        if name in ("temporalio.workflow.defn", "workflow.defn"):
            return True
    for base in node.bases:
        target = base.value if isinstance(base, ast.Subscript) else base
        name = _dotted(target, imports) or ""
        if name.endswith("Entity") and ("agenthub" in name or name == "Entity"):
            return True
    return False


def _module_mutables(tree: ast.Module, imports: dict[str, str]) -> set[str]:
    names: set[str] = set()
    for stmt in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        if value is None:
            continue
        mutable = isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp,
                                     ast.SetComp))  # fmt: skip
        if isinstance(value, ast.Call):
            mutable = (_dotted(value.func, imports) or "") in _MUTABLE_CALLS
        if mutable:
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _heartbeats(function: ast.AST) -> bool:
    """Whether a function's body heartbeats (``activity.heartbeat()`` or a ``Heartbeat``)."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.lower() == "heartbeat":
                return True
    return False


class _Checker(ast.NodeVisitor):
    def __init__(
        self,
        path: str,
        imports: dict[str, str],
        mutables: set[str],
        functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] | None = None,
    ) -> None:
        self.path, self.imports, self.mutables = path, imports, mutables
        self.functions = functions or {}
        self.findings: list[Finding] = []
        self.called_functions: set[str] = set()

    def _report(self, node: ast.AST, code: str, what: str) -> None:
        rule = RULES[code]
        self.findings.append(
            Finding(
                self.path,
                getattr(node, "lineno", 0),
                getattr(node, "col_offset", 0) + 1,
                code,
                f"{what} {rule.problem}; use {rule.fix}",
            )
        )

    def visit_Call(self, node: ast.Call) -> None:
        self._check_mutating_call(node)
        name = _dotted(node.func, self.imports)
        if name is not None:
            code = _CALLS.get(name)
            if code is None:
                for prefix, prefix_code in _MODULE_PREFIXES.items():
                    if name == prefix or name.startswith(prefix + "."):
                        code = prefix_code
                        break
            if code is not None:
                self._report(node, code, f"{name}()")
            elif "." not in name:
                self.called_functions.add(name)
        if isinstance(node.func, ast.Attribute) and node.func.attr in _IO_METHODS:
            self._report(node, "AH107", f".{node.func.attr}()")
        if isinstance(node.func, ast.Attribute) and node.func.attr in _THREAD_METHODS:
            self._report(node, "AH108", f".{node.func.attr}()")
        if name is not None and self._expand(name) in _ACTIVITY_CALLS:
            self._check_activity_call(node, name)
        self.generic_visit(node)

    def _expand(self, name: str) -> str:
        # ``workflow.execute_activity`` without an import seen (a snippet) means the SDK's.
        return f"temporalio.{name}" if name.startswith("workflow.") else name

    def _check_activity_call(self, node: ast.Call, name: str) -> None:
        keywords = {k.arg for k in node.keywords}
        if None in keywords:
            return  # **options: the timeouts may be in there; no guess
        if not keywords & _TIMEOUTS:
            self._report(node, "AH111", f"{name}()")
        if "heartbeat_timeout" in keywords and node.args:
            target = node.args[0]
            target_name = target.id if isinstance(target, ast.Name) else None
            function = self.functions.get(target_name or "")
            if function is not None and not _heartbeats(function):
                self._report(node, "AH112", f"{name}({target_name}, heartbeat_timeout=...)")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = _dotted(node, self.imports)
        if name in _ATTRIBUTES:
            self._report(node, _ATTRIBUTES[name], name)
            return
        self.generic_visit(node)

    def _check_iter(self, it: ast.expr) -> None:
        is_set = isinstance(it, (ast.Set, ast.SetComp)) or (
            isinstance(it, ast.Call) and _dotted(it.func, self.imports) in ("set", "frozenset")
        )
        if is_set:
            self._report(it, "AH109", "iteration over a set")

    def visit_For(self, node: ast.For) -> None:
        self._check_iter(node.iter)
        self.generic_visit(node)

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self._check_iter(node.iter)
        self.generic_visit(node)

    def _mutated_module_state(self, target: ast.expr) -> str | None:
        while isinstance(target, (ast.Subscript, ast.Attribute)):
            target = target.value
        return target.id if isinstance(target, ast.Name) and target.id in self.mutables else None

    def _check_mutation(self, node: ast.AST, targets: Iterable[ast.expr]) -> None:
        # A bare name assigned in a function is a local (``global`` is reported on its own);
        # an item or attribute of a module-level container is shared state.
        for target in targets:
            name = None if isinstance(target, ast.Name) else self._mutated_module_state(target)
            if name:
                self._report(node, "AH110", f"changing module-level {name!r}")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._check_mutation(node, node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_mutation(node, [node.target])
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        self._check_mutation(node, node.targets)
        self.generic_visit(node)

    def _check_mutating_call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _MUTATORS:
            name = self._mutated_module_state(func.value)
            if name:
                self._report(node, "AH110", f"{name}.{func.attr}() changes module-level state")

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self._report(node, "AH110", f"global {name!r}")


def _suppressed(lines: Sequence[str], finding: Finding) -> bool:
    if not 0 < finding.line <= len(lines):
        return False
    match = _SUPPRESS.search(lines[finding.line - 1])
    if not match:
        return False
    codes = match.group(1)
    return codes is None or finding.code in {c.strip() for c in codes.split(",")}


def lint_source(source: str, path: str = "<string>") -> list[Finding]:
    """Lint one module's source text.

    Raises:
        LintError: the source does not parse.
    """
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as err:
        where = f"{path}:{err.lineno}" if err.lineno else path
        raise LintError(f"{where}: cannot parse: {err.msg}") from None
    except (MemoryError, RecursionError, ValueError) as err:
        # Pathological input (200,000 nested operators, a NUL byte) is unreadable, not a bug.
        raise LintError(
            f"{path}: cannot parse: {type(err).__name__}: too deep or not text"
        ) from None
    try:
        return _lint_tree(tree, source, path)
    except RecursionError:
        raise LintError(f"{path}: cannot check: the code is nested too deeply") from None


def _lint_tree(tree: ast.Module, source: str, path: str) -> list[Finding]:
    collector = _Imports()
    collector.visit(tree)
    imports = collector.names
    mutables = _module_mutables(tree, imports)
    functions = {
        n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    checker = _Checker(path, imports, mutables, functions)
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        if not _is_workflow_class(cls, imports):
            continue
        methods = {
            n.name: n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        for method in methods.values():
            for stmt in method.body:
                checker.visit(stmt)
    # Module functions reached from workflow code are workflow code too (transitively).
    done: set[str] = set()
    while pending := (checker.called_functions & functions.keys()) - done:
        for name in sorted(pending):
            done.add(name)
            for stmt in functions[name].body:
                checker.visit(stmt)
    lines = source.splitlines()
    unique = {(f.line, f.col, f.code): f for f in checker.findings}
    return sorted(
        (f for f in unique.values() if not _suppressed(lines, f)),
        key=lambda f: (f.line, f.col, f.code),
    )


def _python_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.py") if ".venv" not in p.parts)
        elif path.exists():
            yield path
        else:
            raise LintError(f"{path}: no such file or directory")


def lint_paths(paths: Iterable[Path]) -> list[Finding]:
    """Lint every ``.py`` file under the given files and directories.

    Raises:
        LintError: a path is missing, unreadable or does not parse.
    """
    findings: list[Finding] = []
    for file in _python_files(paths):
        try:
            source = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise LintError(f"{file}: cannot read: {err}") from None
        findings.extend(lint_source(source, str(file)))
    return findings
