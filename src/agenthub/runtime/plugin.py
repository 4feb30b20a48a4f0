"""``AgentHubPlugin``: everything agenthub runs on a worker, in one SDK plugin.

Give it to the client, and every :class:`temporalio.worker.Worker` built from that client
runs agenthub's own workflows and activities (fan-out batches, the approval inbox, the health
check), with agenthub's data converter (payload offload or the size guard), the workflow
sandbox passing agenthub's dependencies through, and a thread pool for synchronous
activities. Replay uses the same plugin, so histories decode with the same converter.

Example::

    from temporalio.client import Client
    from temporalio.worker import Worker
    from agenthub import AgentHubPlugin, Settings

    client = await Client.connect(
        "localhost:7233", plugins=[AgentHubPlugin(Settings.from_env())]
    )
    worker = Worker(client, task_queue="orders", workflows=[Order], activities=[charge])
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import inspect
import logging
import sys
import time
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import temporalio.client as client_module
import temporalio.workflow
from temporalio.client import ClientConfig
from temporalio.converter import DataConverter
from temporalio.plugin import SimplePlugin
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    ReplayerConfig,
    UnsandboxedWorkflowRunner,
    WorkerConfig,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._runner import _Instance as _SandboxInstance

from agenthub.errors import ConfigurationError
from agenthub.patterns.approvals import ApprovalInbox, register_approval, unregister_approval
from agenthub.patterns.callbacks import signing_secret
from agenthub.patterns.fanout import FanOutBatch
from agenthub.runtime.health import HealthCheckWorkflow, health_check_activity
from agenthub.runtime.settings import Settings
from agenthub.runtime.telemetry import install_one_line_failures

__all__ = [
    "PACKAGE_ACTIVITIES",
    "PACKAGE_WORKFLOWS",
    "PASSTHROUGH_MODULES",
    "AgentHubPlugin",
    "CompiledGlueSandboxRunner",
    "sandboxed_runner",
]

PACKAGE_WORKFLOWS: tuple[type, ...] = (HealthCheckWorkflow, FanOutBatch, ApprovalInbox)
"""Workflows agenthub itself ships; the plugin registers them on every worker."""

PACKAGE_ACTIVITIES: tuple[Callable[..., Any], ...] = (
    health_check_activity,
    register_approval,
    unregister_approval,
)
"""Activities agenthub itself ships; the plugin registers them on every worker."""

PASSTHROUGH_MODULES: tuple[str, ...] = ("agenthub", "pydantic", "pydantic_core", "rich")
"""Modules the workflow sandbox imports once and shares, instead of once per workflow run.

They are deterministic libraries; re-importing them for every run costs seconds of CPU per
workflow task under load (measured: 8 s tasks with 50 concurrent workflows).
"""

PLUGIN_NAME = "agenthub"

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=256)
def _compiled(code: str) -> types.CodeType:
    return compile(code, "<workflow_sandbox>", "exec")


class _CompiledGlueInstance(_SandboxInstance):
    # The SDK's sandbox runs a few lines of glue code (import the workflow, activate it,
    # find a payload's serialization context) through ``exec`` of a string, which compiles
    # that string again on every call, several times per activation. Compiled once:
    # 1.03-1.13x the sagas/s (benchmarks/sandbox_cost.py). The workflow's own module is
    # still imported again for every run, under the same restrictions.
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # The SDK hands the string to ``exec``, which takes a code object just as well.
        super()._run_code(_compiled(code), **extra_globals)  # type: ignore[arg-type]


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
        """See base class."""
        return _CompiledGlueInstance(det, self.runner_class, self.restrictions)

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


def _with_passthrough(existing: WorkflowRunner | None) -> WorkflowRunner:
    # A runner the user chose (e.g. unsandboxed) stays; a sandbox gains the passthroughs.
    if existing is None or isinstance(existing, SandboxedWorkflowRunner):
        return sandboxed_runner(base=existing)
    return existing


def _unique(items: Sequence[Any]) -> list[Any]:
    seen: set[int] = set()
    unique = []
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            unique.append(item)
    return unique


def check_unsandboxed(workflows: Sequence[type], *, all_unsandboxed: bool = False) -> None:
    """Refuse a workflow that runs outside the SDK's sandbox unless its module passes
    ``agenthub lint``: out there, nothing else stops a non-deterministic call.

    The sandbox costs time per workflow run (``benchmarks/saga_peers.py`` measures it);
    ``@workflow.defn(sandboxed=False)`` (or an ``UnsandboxedWorkflowRunner``) saves it for
    modules that are known to be deterministic, and this check is what keeps them so.

    Raises:
        ConfigurationError: naming the workflow and the linter's findings.
    """
    from agenthub.determinism.lint import lint_source

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


class _EagerStarts(client_module.Interceptor):
    """Asks for eager start on every plain workflow start: when this client's own worker
    polls the task queue, the first workflow task runs at once, without a round trip through
    the server (saga_peers: 26 -> 31 wf/s); otherwise the server starts it as usual."""

    def intercept_client(
        self, next: client_module.OutboundInterceptor
    ) -> client_module.OutboundInterceptor:
        return _EagerStartsOutbound(next)


class _EagerStartsOutbound(client_module.OutboundInterceptor):
    async def start_workflow(self, input: client_module.StartWorkflowInput) -> Any:
        if not input.start_signal and input.start_delay is None:
            input.request_eager_start = True
        return await self.next.start_workflow(input)


class _SigningSecretInterceptor(Interceptor):
    """Gives activities the settings' callback secret (``CallbackRequest.token()``)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._secret: str | None = None

    def secret(self) -> str:
        if self._secret is None:  # read (or created) on first use, not at worker start
            self._secret = self._settings.callback_secrets()[0]
        return self._secret

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _SigningSecretActivity(next, self)


class _SigningSecretActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, root: _SigningSecretInterceptor) -> None:
        super().__init__(next)
        self._root = root

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        # The secret is read (or created) only if the activity mints a token.
        with signing_secret(self._root.secret):
            return await self.next.execute_activity(input)


class AgentHubPlugin(SimplePlugin):
    """agenthub's registrations, converter and sandbox settings as a Temporal plugin.

    Args:
        settings: agenthub settings (payload offload, data dir); default
            ``Settings.from_env()``.
        workflows: more workflows to register on every worker of this plugin (your app's).
        activities: more activities to register on every worker of this plugin.

    On a client the plugin sets agenthub's data converter unless one was given; on a worker
    it appends agenthub's workflows and activities, passes agenthub's modules through the
    sandbox and, when some activity is synchronous and no ``activity_executor`` was given,
    runs them on a thread pool.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
    ) -> None:
        self.settings = settings or Settings.from_env()
        super().__init__(
            PLUGIN_NAME,
            workflows=lambda existing: _unique([*(existing or ()), *PACKAGE_WORKFLOWS, *workflows]),
            activities=lambda existing: _unique(
                [*(existing or ()), *PACKAGE_ACTIVITIES, *activities]
            ),
            workflow_runner=_with_passthrough,
            interceptors=[
                _SigningSecretInterceptor(self.settings),
                *([_EagerStarts()] if self.settings.eager_start else []),
            ],
        )

    def data_converter_for(self, address: str) -> DataConverter:
        """The converter for a client of the server at ``address``."""
        return self.settings.data_converter(address)

    def configure_client(self, config: ClientConfig) -> ClientConfig:
        """See base class; sets agenthub's data converter unless one was given."""
        config = super().configure_client(config)
        if config.get("data_converter") in (None, DataConverter.default):
            address = config["service_client"].config.target_host
            config["data_converter"] = self.data_converter_for(address)
        return config

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """See base class; adds a thread pool when some activity is synchronous, and checks
        workflows that run outside the sandbox with ``agenthub lint``."""
        config = super().configure_worker(config)
        install_one_line_failures()
        check_unsandboxed(
            config.get("workflows") or (),
            all_unsandboxed=isinstance(config.get("workflow_runner"), UnsandboxedWorkflowRunner),
        )
        activities = config.get("activities") or ()
        if config.get("activity_executor") is None and any(
            not asyncio.iscoroutinefunction(a) for a in activities
        ):
            config["activity_executor"] = concurrent.futures.ThreadPoolExecutor(
                max_workers=config.get("max_concurrent_activities") or 100
            )
        return config

    def configure_replayer(self, config: ReplayerConfig) -> ReplayerConfig:
        """See base class; decodes offloaded payloads unless offload is switched off."""
        config = super().configure_replayer(config)
        if config.get("data_converter") in (None, DataConverter.default):
            # As a client of the embedded server: offloaded unless offload is "false".
            config["data_converter"] = self.data_converter_for(self.settings.embedded_address)
        return config
