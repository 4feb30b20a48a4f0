"""agenthub's workflow sandbox: the SDK's sandbox with agenthub's modules passed through,
its glue code compiled once per process, a warning for workflow modules that are slow to
import, and the check that lets a workflow leave the sandbox only when its module passes
``agenthub lint``.

The compiled glue builds on a private part of the SDK (``workflow_sandbox._runner.
_Instance._run_code``); if a future SDK moves it, agenthub imports as before and runs the
SDK's stock sandbox, after one warning (:data:`GLUE_INSTANCE` is then ``None``).

Example::

    Worker(client, task_queue="orders", workflows=[Order], workflow_runner=sandboxed_runner())
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import temporalio.workflow
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agenthub.determinism.lint import lint_source
from agenthub.errors import ConfigurationError

__all__ = [
    "GLUE_INSTANCE",
    "PASSTHROUGH_MODULES",
    "CompiledGlueSandboxRunner",
    "check_unsandboxed",
    "sandboxed_runner",
    "with_passthrough",
]

logger = logging.getLogger(__name__)

PASSTHROUGH_MODULES: tuple[str, ...] = ("agenthub", "pydantic", "pydantic_core", "rich")
"""Modules the workflow sandbox imports once and shares, instead of once per workflow run.

They are deterministic libraries; re-importing them for every run costs seconds of CPU per
workflow task under load (measured: 8 s tasks with 50 concurrent workflows).
"""


@functools.lru_cache(maxsize=256)
def _compiled(code: str) -> types.CodeType:
    return compile(code, "<workflow_sandbox>", "exec")


def _glue_instance_class() -> type[WorkflowInstance] | None:
    """The SDK's sandbox instance with its glue code compiled once, or ``None`` when the
    SDK's private parts it builds on (``_runner._Instance._run_code``) are not there.

    The SDK's sandbox runs a few lines of glue code (import the workflow, activate it, find
    a payload's serialization context) through ``exec`` of a string, which compiles that
    string again on every call, several times per activation. Compiled once: 1.03-1.13x the
    sagas/s (benchmarks/sandbox_cost.py). The workflow's own module is still imported again
    for every run, under the same restrictions.

    Payloads' serialization and storage contexts are looked up directly in the run's
    instance, not through the sandbox's glue code.
    """
    try:
        from temporalio.worker.workflow_sandbox._runner import _Instance
    except ImportError:
        return None
    if not callable(getattr(_Instance, "_run_code", None)):
        return None

    class _CompiledGlueInstance(_Instance):
        def _run_code(self, code: str, **extra_globals: Any) -> None:
            # The SDK hands the string to ``exec``, which takes a code object as well.
            super()._run_code(_compiled(code), **extra_globals)  # type: ignore[arg-type]

        # The SDK asks for a payload's contexts four to six times per payload, each time
        # through ``_run_code`` with the importer applied (14% of a sandboxed saga's worker
        # CPU). Both are pure look-ups in the SDK's own (passed-through) instance class over
        # the run's info and pending commands: called directly, the same code runs on the
        # same objects.
        def get_serialization_context(self, command_info: Any) -> Any:
            in_sandbox: Any = self.globals_and_locals.get("__temporal_in_sandbox")
            if in_sandbox is None:
                return super().get_serialization_context(command_info)
            return in_sandbox.get_serialization_context(command_info)

        def get_external_store_context(self, command_info: Any) -> Any:
            in_sandbox: Any = self.globals_and_locals.get("__temporal_in_sandbox")
            if in_sandbox is None:
                return super().get_external_store_context(command_info)
            return in_sandbox.get_external_store_context(command_info)

    return _CompiledGlueInstance


GLUE_INSTANCE = _glue_instance_class()
"""The compiled-glue sandbox instance, or ``None``: the SDK's private parts moved, and
:class:`CompiledGlueSandboxRunner` runs the stock sandbox (after one warning)."""

_warned_stock = False


_warned_modules: set[str] = set()
# Without a .pyc file the module's source is compiled again on every run too.
_NO_PYC = ". PYTHONDONTWRITEBYTECODE is set: without a .pyc file it is compiled every time too"


def _module_contents(module_name: str) -> str:
    module = sys.modules.get(module_name)
    if module is None:
        return "what it defines is unknown"
    own = [v for v in vars(module).values() if getattr(v, "__module__", None) == module_name]
    workflows = sum(1 for v in own if hasattr(v, "__temporal_workflow_definition"))
    classes = sum(1 for v in own if inspect.isclass(v)) - workflows
    functions = sum(1 for v in own if inspect.isfunction(v))
    return f"it defines {workflows} workflow(s), {classes} other class(es), {functions} function(s)"


@dataclasses.dataclass(frozen=True)
class CompiledGlueSandboxRunner(SandboxedWorkflowRunner):
    """The SDK's sandbox, unchanged in what it isolates and restricts, with its glue code
    compiled once per worker process instead of on every call.

    When the worker starts, it times how long the sandbox takes to import each workflow's
    module (it does that again for every run) and logs a warning naming the module when that
    exceeds ``slow_import_warning_ms`` (``None``: never).

    Example::

        Worker(client, task_queue="orders", workflows=[Order],
               workflow_runner=CompiledGlueSandboxRunner(slow_import_warning_ms=None))
    """

    slow_import_warning_ms: float | None = 5.0
    """A module whose import takes longer than this, per run, gets a warning at start."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        """See base class; the stock sandbox instance if the SDK's parts moved."""
        glue = GLUE_INSTANCE
        if glue is None:
            global _warned_stock
            if not _warned_stock:
                _warned_stock = True
                logger.warning(
                    "this temporalio has no workflow_sandbox._runner._Instance._run_code: "
                    "agenthub runs the SDK's own sandbox runner (same isolation; its glue "
                    "code is compiled on every call, about 3-12%% fewer workflows/s)"
                )
            return super().create_instance(det)
        return glue(det, self.runner_class, self.restrictions)  # type: ignore[call-arg]

    def _passed_through(self, module: str) -> bool:
        # Imported once per process, not per run (agenthub's own workflows, for one).
        parts = module.split(".")
        names = {".".join(parts[: i + 1]) for i in range(len(parts))}
        restrictions = self.restrictions
        return restrictions.passthrough_all_modules or bool(
            names & restrictions.passthrough_modules
        )

    def prepare_workflow(self, defn: temporalio.workflow._Definition) -> None:
        """See base class; also warns about a workflow module that is slow to import."""
        began = time.perf_counter()
        super().prepare_workflow(defn)  # validates by creating an instance: a run's import
        limit = self.slow_import_warning_ms
        module = defn.cls.__module__
        if limit is None or module in _warned_modules or self._passed_through(module):
            return
        cost = time.perf_counter() - began
        for _ in range(2):
            if cost * 1000 <= limit:
                return
            # The first import may pay for cold caches, and a busy moment can slow any one:
            # the fastest of three is what every run pays.
            began = time.perf_counter()
            super().prepare_workflow(defn)
            cost = min(cost, time.perf_counter() - began)
        if cost * 1000 > limit:
            _warned_modules.add(module)
            logger.warning(
                "workflow %r: the sandbox imports its module %s afresh for every run, "
                "%.1f ms each time here (%s). Keep a workflow in a small module and "
                "import its activities, data classes and other workflows inside "
                "`with workflow.unsafe.imports_passed_through():` (README: Sandbox cost)%s",
                defn.name, module, cost * 1000, _module_contents(module),
                _NO_PYC if sys.dont_write_bytecode else "",
            )  # fmt: skip


def sandboxed_runner(
    *extra_passthrough: str, base: SandboxedWorkflowRunner | None = None
) -> SandboxedWorkflowRunner:
    """The SDK's sandbox (or ``base``) with :data:`PASSTHROUGH_MODULES` passed through.

    The SDK's own runner becomes a :class:`CompiledGlueSandboxRunner`; a subclass of it that
    you chose stays as it is.
    """
    base = base or SandboxedWorkflowRunner()
    restrictions: SandboxRestrictions = base.restrictions.with_passthrough_modules(
        *PASSTHROUGH_MODULES, *extra_passthrough
    )
    if type(base) is SandboxedWorkflowRunner:
        return CompiledGlueSandboxRunner(restrictions=restrictions, runner_class=base.runner_class)
    return dataclasses.replace(base, restrictions=restrictions)


def with_passthrough(existing: WorkflowRunner | None) -> WorkflowRunner:
    """A runner the user chose (e.g. unsandboxed) stays; a sandbox gains the passthroughs."""
    if existing is None or isinstance(existing, SandboxedWorkflowRunner):
        return sandboxed_runner(base=existing)
    return existing


def check_unsandboxed(workflows: Sequence[type], *, all_unsandboxed: bool = False) -> None:
    """Refuse a workflow that runs outside the SDK's sandbox unless its module passes
    ``agenthub lint``: out there, nothing else stops a non-deterministic call.

    The sandbox costs time per workflow run (``benchmarks/saga_peers.py`` measures it);
    ``@workflow.defn(sandboxed=False)`` (or an ``UnsandboxedWorkflowRunner``) saves it for
    modules that are known to be deterministic, and this check is what keeps them so.

    Raises:
        ConfigurationError: naming the workflow and the linter's findings.
    """
    checked: set[str] = set()
    for cls in workflows:
        definition = getattr(cls, "__temporal_workflow_definition", None)
        if definition is None or (definition.sandboxed and not all_unsandboxed):
            continue
        path = inspect.getsourcefile(cls)
        if path is None or path in checked:
            continue
        checked.add(path)
        findings = lint_source(Path(path).read_text(encoding="utf-8"), path)
        if findings:
            shown = "; ".join(f.format() for f in findings[:3])
            more = f" (and {len(findings) - 3} more)" if len(findings) > 3 else ""
            raise ConfigurationError(
                f"workflow {definition.name!r} runs outside the sandbox, so its module must "
                f"pass `agenthub lint`: {shown}{more}. Fix them, or keep the sandbox"
            )
