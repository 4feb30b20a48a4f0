"""``AgentsPlugin``: agents on a worker in one line.

It builds each :class:`~agenthub.agents.AgentSpec` into a durable pydantic-ai agent and
registers, on every worker of the client it is given to: the :class:`AgentTask` workflow,
each agent's model and tool activities (pydantic-ai's ``TemporalDurability``), the undo
activity of compensated tools, and pydantic-ai's sandbox and failure settings. On the client
it keeps agenthub's converter (offload or size guard) and gives it pydantic-ai's message
decoding.

Example::

    client = await connect(settings, plugins=[AgentsPlugin(trip, researcher)])
    worker = build_worker(client, settings)   # runs agents too
    result = await run_agent(client, "trip", "Two nights in Lisbon", task_queue=settings.task_queue)

With ``agenthub up --app myapp.agents``, a module-level ``AgentsPlugin`` is picked up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, ClientConfig
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.plugin import SimplePlugin
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    ReplayerConfig,
    WorkerConfig,
)

from agenthub.agents._client import set_worker_client
from agenthub.agents.evaluate import Evaluation
from agenthub.agents.limiter import (
    Limiter,
    LimiterSpec,
    ask_for_permit,
    pause_limiter,
    retry_after_of,
)
from agenthub.agents.registry import register_agent, register_team
from agenthub.agents.session import AgentSession
from agenthub.agents.spec import AgentSpec
from agenthub.agents.task import (
    AGENT_TASK_TYPE,
    MODEL_ERROR_SIGNAL,
    AgentTask,
    ModelFailure,
    render_fire_goal,
)
from agenthub.agents.team import Team, TeamSpec, finished_member_undos
from agenthub.agents.undo import undo_activity
from agenthub.errors import ConfigurationError
from agenthub.patterns._sdk import describe_failure
from agenthub.patterns.ledger import IdempotencyLedger, open_ledger
from agenthub.runtime.settings import Settings
from agenthub.runtime.telemetry import install_task_ids

__all__ = ["AgentsPlugin"]


_MODEL_ACTIVITY = re.compile(r"agent__(?P<agent>.+)__model_request(_stream)?")


class _ModelFailureReports(Interceptor):
    """Watches agents' model requests: a failed attempt becomes a ``model_error`` event of
    its task (class, attempt, next retry time) and one log line, and a 429's
    ``Retry-After`` pauses the agent's shared limiter, so every holder waits, not only the
    request that was refused."""

    def __init__(self, client: Client, limits: dict[str, LimiterSpec]) -> None:
        self.client = client
        self.limits = limits

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ReportingActivity(next, self)


class _ReportingActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, root: _ModelFailureReports) -> None:
        super().__init__(next)
        self.root = root

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except (asyncio.CancelledError, CancelledError):
            raise
        except Exception as err:
            info = activity.info()
            match = _MODEL_ACTIVITY.fullmatch(info.activity_type)
            if match is None:
                raise
            spec = self.root.limits.get(match["agent"])
            wait = retry_after_of(err)
            if spec is not None and wait > 0:
                with contextlib.suppress(Exception):  # the report is advice; the error stands
                    await pause_limiter(self.root.client, spec, wait)
            if info.workflow_type == AGENT_TASK_TYPE:
                await self._report(info, err)
            raise

    async def _report(self, info: activity.Info, err: Exception) -> None:
        kind, message = describe_failure(err)
        first = message.strip().splitlines()[0][:300] if message.strip() else ""
        failure = ModelFailure(kind, first, info.attempt, next_retry_at(info, err, kind))
        with contextlib.suppress(Exception):  # the task may have ended meanwhile
            handle = self.root.client.get_workflow_handle(
                info.workflow_id or "", run_id=info.workflow_run_id
            )
            await handle.signal(MODEL_ERROR_SIGNAL, failure, rpc_timeout=timedelta(seconds=2))


def next_retry_at(info: activity.Info, err: BaseException, kind: str) -> datetime | None:
    """When the server retries this failed attempt, by its retry policy; ``None`` when it
    will not (non-retryable, or the last attempt)."""
    policy = info.retry_policy
    if isinstance(err, ApplicationError) and err.non_retryable:
        return None
    if policy is None:
        return None
    if kind in (policy.non_retryable_error_types or ()):
        return None
    if policy.maximum_attempts and info.attempt >= policy.maximum_attempts:
        return None
    delay = err.next_retry_delay if isinstance(err, ApplicationError) else None
    if delay is None:
        grown = policy.initial_interval * (policy.backoff_coefficient ** (info.attempt - 1))
        delay = min(grown, policy.maximum_interval or policy.initial_interval * 100)
    return datetime.now(UTC) + delay


def _build_message_schema() -> None:
    """Build pydantic-ai's message schema now, on the host: it is built on first use, and a
    first use inside a task's workflow code on a busy worker took over 2 s (the SDK's
    deadlock detector failed the workflow task, TMPRL1101; ``benchmarks.api_load``)."""
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    ModelMessagesTypeAdapter.dump_python([], mode="json")
    ModelMessagesTypeAdapter.validate_python([])


def _ai_converter(converter: DataConverter) -> DataConverter:
    """agenthub's converter with pydantic-ai's payload converter as its base."""
    from pydantic_ai.durable_exec.temporal import PydanticAIPayloadConverter

    from agenthub.runtime.converter import built_once, guarded_payload_converter

    current = converter.payload_converter_class
    if issubclass(current, PydanticAIPayloadConverter):
        return converter
    limit = getattr(current, "agenthub_limit", None)
    base = (
        guarded_payload_converter(limit, base=PydanticAIPayloadConverter)
        if isinstance(limit, int)
        else built_once(PydanticAIPayloadConverter)
    )
    return dataclasses.replace(converter, payload_converter_class=base)


class AgentsPlugin(SimplePlugin):
    """Agents as agenthub tasks (see the module docstring).

    Args:
        agents: the agents this worker runs; names must be unique.
        teams: teams of these agents (:class:`~agenthub.agents.TeamSpec`).
        settings: model keys, the ledger of side-effect tools; default ``Settings.from_env()``.

    Raises:
        ConfigurationError: two agents share a name, or a model cannot be resolved.
    """

    def __init__(
        self,
        *agents: AgentSpec,
        teams: Sequence[TeamSpec] = (),
        settings: Settings | None = None,
    ) -> None:
        from pydantic_ai.durable_exec.temporal import AgentPlugin, PydanticAIPlugin

        self.settings = settings or Settings.from_env()
        _build_message_schema()
        self.specs = list(agents)
        names = [a.name for a in agents]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigurationError(f"agents named twice: {duplicates}")
        ledgers: list[IdempotencyLedger] = []

        def ledger() -> IdempotencyLedger:
            if not ledgers:  # opened on the first side-effect call, in the worker
                ledgers.append(open_ledger(self.settings.ledger_location))
            return ledgers[0]

        activities: list[Callable[..., Any]] = [
            undo_activity(ledger), ask_for_permit, finished_member_undos, render_fire_goal,
        ]  # fmt: skip
        workflows: list[type] = [AgentTask, Limiter, AgentSession, Team, Evaluation]
        self.limits: dict[str, LimiterSpec] = {a.name: a.limiter for a in agents if a.limiter}
        by_name: dict[str, LimiterSpec] = {}
        for limit in self.limits.values():
            if by_name.setdefault(limit.name, limit) != limit:
                raise ConfigurationError(
                    f"limiter {limit.name!r} is declared twice with different limits; "
                    "declare it once and share the LimiterSpec"
                )
        self._agent_plugins: list[SimplePlugin] = []
        self.agents: dict[str, Any] = {}
        for spec in agents:
            agent = spec.build(self.settings, ledger=ledger)
            # pydantic-ai's own plugin registers the agent's model and tool activities.
            self._agent_plugins.append(AgentPlugin(agent))
            self.agents[spec.name] = agent
            register_agent(spec, agent)
        for team in teams:
            unknown = sorted(team.agents() - set(names))
            if unknown:
                raise ConfigurationError(
                    f"team {team.name!r} names agents this plugin does not run: {unknown}"
                )
            register_team(team)
        self.teams = list(teams)
        self._pydantic_ai = PydanticAIPlugin()
        super().__init__(
            "agenthub.agents",
            workflows=lambda existing: list(dict.fromkeys([*(existing or ()), *workflows])),
            activities=lambda existing: list(dict.fromkeys([*(existing or ()), *activities])),
        )

    def configure_client(self, config: ClientConfig) -> ClientConfig:
        """See base class; gives agenthub's converter pydantic-ai's payload decoding."""
        config = self._pydantic_ai.configure_client(super().configure_client(config))
        config["data_converter"] = _ai_converter(config["data_converter"])
        return config

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """See base class; adds the agents' activities, pydantic-ai's sandbox passthrough and
        its failure types."""
        config = super().configure_worker(config)
        for plugin in self._agent_plugins:
            config = plugin.configure_worker(config)
        set_worker_client(config["client"])
        install_task_ids()  # a tool's own log lines name their task
        config["interceptors"] = [
            *config.get("interceptors", ()),
            _ModelFailureReports(config["client"], self.limits),
        ]
        return self._pydantic_ai.configure_worker(config)

    def configure_replayer(self, config: ReplayerConfig) -> ReplayerConfig:
        """See base class; replays with pydantic-ai's decoding and sandbox settings."""
        config = super().configure_replayer(config)
        for plugin in self._agent_plugins:
            config = plugin.configure_replayer(config)
        config = self._pydantic_ai.configure_replayer(config)
        if config.get("data_converter") is not None:
            config["data_converter"] = _ai_converter(config["data_converter"])
        return config
