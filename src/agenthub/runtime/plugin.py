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
import logging
from collections.abc import Callable, Sequence
from typing import Any

import temporalio.client as client_module
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
)

from agenthub.patterns.approvals import ApprovalInbox, register_approval, unregister_approval
from agenthub.patterns.callbacks import signing_secret
from agenthub.patterns.fanout import FanOutBatch
from agenthub.runtime.health import HealthCheckWorkflow, health_check_activity
from agenthub.runtime.sandbox import (
    PASSTHROUGH_MODULES,
    CompiledGlueSandboxRunner,
    check_unsandboxed,
    sandboxed_runner,
    with_passthrough,
)
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

PLUGIN_NAME = "agenthub"

logger = logging.getLogger(__name__)


def _unique(items: Sequence[Any]) -> list[Any]:
    seen: set[int] = set()
    unique = []
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            unique.append(item)
    return unique


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
            workflow_runner=with_passthrough,
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
