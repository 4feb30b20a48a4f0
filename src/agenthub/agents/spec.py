"""Agent definitions: a small declarative :class:`AgentSpec` that builds a durable pydantic-ai
``Agent``.

The same definition can come from Python or, later, a config file: a name, instructions, a
model string, tools (:func:`~agenthub.agents.tool`), limits and approvers. :meth:`build`
attaches pydantic-ai's ``TemporalDurability`` (model requests and tool calls become
activities) and agenthub's capability (approvals, compensation, progress, never running
silently outside a workflow).

Model strings resolve through settings: ``openai:<model>`` (``AGENTHUB_OPENAI_BASE_URL`` /
``AGENTHUB_OPENAI_API_KEY``, which also serve OpenAI-compatible local servers),
``anthropic:<model>`` (``AGENTHUB_ANTHROPIC_API_KEY``), and ``offline`` (the default when no
model is named): pydantic-ai's ``TestModel``, which calls every tool once and answers, so
everything runs with no network. A ``pydantic_ai.models.Model`` instance is used as given
(e.g. ``FunctionModel`` for scripted tests).

Example::

    trip = AgentSpec(
        name="trip",
        instructions="Plan trips. Book only what the user asked for.",
        model="openai:gpt-4o-mini",
        tools=[book_hotel, book_car],
        approvers=["ana"],
        limits=AgentLimits(max_requests=20, deadline=timedelta(minutes=10)),
    )
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from agenthub.agents.limiter import LimiterSpec
from agenthub.agents.tools import AgentTool, AnyTool, activity_config, activity_function
from agenthub.errors import ConfigurationError
from agenthub.patterns.ledger import IdempotencyLedger
from agenthub.runtime.settings import Settings

__all__ = [
    "AgentLimits",
    "AgentSpec",
    "MCPServerSpec",
    "SessionBudget",
    "check_model_name",
    "resolve_model",
]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
OFFLINE_MODEL = "offline"
DoubleTexting = Literal["enqueue", "reject", "interrupt", "rollback"]
DOUBLE_TEXTING: tuple[DoubleTexting, ...] = ("enqueue", "reject", "interrupt", "rollback")


@dataclass(frozen=True)
class AgentLimits:
    """Limits of one agent task; ``None`` means no limit of that kind."""

    max_requests: int | None = 50
    """Model requests (turns) per task."""
    max_tool_calls: int | None = None
    max_total_tokens: int | None = None
    deadline: timedelta | None = None
    """Wall-clock (durable) time the task may take; past it, it fails and compensates."""

    def __post_init__(self) -> None:
        for name in ("max_requests", "max_tool_calls", "max_total_tokens"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigurationError(f"AgentLimits.{name} must be > 0 or None, got {value}")
        if self.deadline is not None and self.deadline <= timedelta(0):
            raise ConfigurationError(f"AgentLimits.deadline must be positive, got {self.deadline}")


@dataclass(frozen=True)
class SessionBudget:
    """How long a session's history may grow before it is cut.

    Args:
        max_messages: messages (requests and responses) kept before compacting.
        keep: messages kept after compacting (the newest, from a user message on).
        policy: ``truncate`` drops the older ones; ``summarize`` replaces them with a
            summary written by ``summarizer`` (default: the session's own agent).
    """

    max_messages: int = 200
    keep: int = 40
    policy: Literal["truncate", "summarize"] = "truncate"
    summarizer: str = ""

    def __post_init__(self) -> None:
        if not 2 <= self.keep < self.max_messages:
            raise ConfigurationError("SessionBudget needs 2 <= keep < max_messages")


@dataclass(frozen=True)
class MCPServerSpec:
    """An MCP server whose tools the agent may call (through pydantic-ai's MCP toolset;
    listing and calling its tools are activities).

    Give ``command`` (and ``args``, ``env``) for a server over stdio, or ``url`` for one over
    streamable HTTP. ``id`` must stay stable: it names the toolset's activities.
    """

    id: str
    command: str = ""
    args: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    url: str = ""
    timeout: timedelta = timedelta(minutes=1)
    """Start-to-close timeout of each MCP activity."""
    tool_prefix: str = ""
    """Prefix of this server's tool names as the model sees them (``<prefix>_<tool>``), for
    servers whose tool names collide."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.id):
            raise ConfigurationError(
                f"MCP server id {self.id!r} is not valid: letters, digits, '_' or '-'"
            )
        if bool(self.command) == bool(self.url):
            raise ConfigurationError(
                f"MCP server {self.id!r}: give either command= (stdio) or url= (streamable HTTP)"
            )
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ConfigurationError(f"MCP server {self.id!r}: url must be http(s)://...")

    def toolset(self, agent: str) -> Any:
        """pydantic-ai's ``MCPToolset`` for this server, with a stable id."""
        from pydantic_ai.mcp import MCPToolset

        if self.url:
            toolset = MCPToolset(self.url, id=self.toolset_id(agent))
        else:
            from fastmcp.client.transports import StdioTransport

            transport = StdioTransport(
                command=self.command, args=list(self.args), env=dict(self.env or {}) or None
            )
            toolset = MCPToolset(transport, id=self.toolset_id(agent))
        return toolset.prefixed(self.tool_prefix) if self.tool_prefix else toolset

    def toolset_id(self, agent: str) -> str:
        return f"{agent}-mcp-{self.id}"


@dataclass
class AgentSpec:
    """One agent: what it is told, which model it uses, what it may do.

    Args:
        name: unique and stable (it names the agent's activities; changing it breaks
            running tasks): letters, digits, ``_`` and ``-``.
        instructions: the system instructions.
        model: a model string (see the module docstring) or a pydantic-ai ``Model``.
        tools: functions or :func:`~agenthub.agents.tool` declarations.
        mcp_servers: MCP servers (stdio or streamable HTTP) whose tools it may call.
        limiter: a shared limit on its model API (agents naming the same limiter share
            it): every model request takes a permit first.
        session_budget: how long a session's history may grow (:class:`SessionBudget`).
        model_timeout: how long one attempt of a model request may take.
        model_heartbeat_timeout: how soon a model request whose worker died is retried
            elsewhere (the request heartbeats while it waits for the provider).
        approvers: who may approve tools that require approval (unless a tool names its own).
        limits: requests, tool calls, tokens and deadline of one task.
        output_type: the type of the answer (``str`` by default; a dataclass or pydantic
            model for structured output).
        double_texting: what a session does with a message that comes while it still
            answers the previous one: ``enqueue`` (answer both, in order), ``reject``
            (409 ``SessionBusy``), ``interrupt`` (stop the turn in flight, keep its partial
            transcript marked, answer the new message), ``rollback`` (stop it, undo its
            compensated tool calls newest first, drop it from the history, answer the new
            message).
        continue_as_new_events: a task continues as new (one task to every reader) once its
            run's history has this many events, or when the server suggests it, whichever
            comes first; ``None``: only when the server suggests it.
    """

    name: str
    instructions: str = ""
    model: Any = OFFLINE_MODEL
    tools: Sequence[AnyTool | Callable[..., Any]] = ()
    approvers: Sequence[str] = ()
    limits: AgentLimits = field(default_factory=AgentLimits)
    output_type: Any = str
    description: str = ""
    mcp_servers: Sequence[MCPServerSpec] = ()
    limiter: LimiterSpec | None = None
    session_budget: SessionBudget = field(default_factory=SessionBudget)
    model_timeout: timedelta = timedelta(minutes=5)
    model_heartbeat_timeout: timedelta = timedelta(seconds=30)
    double_texting: DoubleTexting = "enqueue"
    continue_as_new_events: int | None = None

    def __post_init__(self) -> None:
        if self.double_texting not in DOUBLE_TEXTING:
            raise ConfigurationError(
                f"agent {self.name!r}: double_texting {self.double_texting!r} is not one of "
                f"{', '.join(DOUBLE_TEXTING)}"
            )
        if self.continue_as_new_events is not None and self.continue_as_new_events < 100:
            raise ConfigurationError(
                f"agent {self.name!r}: continue_as_new_events must be at least 100, got "
                f"{self.continue_as_new_events}"
            )
        if not _NAME.fullmatch(self.name):
            raise ConfigurationError(
                f"agent name {self.name!r} is not valid: start with a letter, then up to 63 "
                "letters, digits, '_' or '-'"
            )
        names = [t.name for t in self.agent_tools()]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigurationError(f"agent {self.name!r} has tools named twice: {duplicates}")
        servers = [m.id for m in self.mcp_servers]
        if len(set(servers)) != len(servers):
            raise ConfigurationError(f"agent {self.name!r} has MCP servers with one id: {servers}")
        needing = [t.name for t in self.agent_tools() if t.requires_approval and not t.approvers]
        if needing and not self.approvers:
            raise ConfigurationError(
                f"agent {self.name!r}: tools {needing} require approval but nobody may approve: "
                "give the agent approvers=[...] or the tool approvers=[...]"
            )

    def agent_tools(self) -> list[AnyTool]:
        """The tools as :class:`AgentTool` (plain functions get the defaults)."""
        from agenthub.agents.tools import tool

        return [t if isinstance(t, AgentTool) else tool(t) for t in self.tools]

    def describe(self) -> dict[str, Any]:
        """What a recording of this agent's runs needs to know of it: instructions, model,
        tools with their signatures, MCP servers, and a digest over all of it."""
        import hashlib
        import json

        model = self.model if isinstance(self.model, str) else type(self.model).__name__
        tools = [
            {
                "name": t.name,
                "signature": _signature(t.function),
                "side_effect": t.side_effect,
                "compensated": t.compensate is not None,
                "requires_approval": t.requires_approval,
            }
            for t in self.agent_tools()
        ]
        described: dict[str, Any] = {
            "name": self.name,
            "instructions": self.instructions,
            "model": model,
            "tools": tools,
            "mcp_servers": [m.id for m in self.mcp_servers],
        }
        canonical = json.dumps(described, sort_keys=True).encode()
        return {**described, "digest": hashlib.sha256(canonical).hexdigest()[:16]}

    def build(
        self, settings: Settings | None = None, *, ledger: Callable[[], IdempotencyLedger]
    ) -> Any:
        """The durable pydantic-ai ``Agent`` of this spec (worker side)."""
        from pydantic_ai import Agent
        from pydantic_ai.capabilities import ResolveModelId
        from pydantic_ai.durable_exec.temporal import TemporalDurability
        from pydantic_ai.toolsets import FunctionToolset
        from temporalio import workflow

        from agenthub.agents.capability import AgentHubCapability
        from agenthub.patterns.retry import preset

        settings = settings or Settings.from_env()
        tools = self.agent_tools()
        toolset: FunctionToolset[Any] = FunctionToolset(id=f"{self.name}-tools")
        for spec in tools:
            toolset.add_function(
                activity_function(spec, self.name, ledger),
                name=spec.name,
                description=spec.description,
                metadata={"temporal": activity_config(spec)},
            )
        model_config = workflow.ActivityConfig(
            start_to_close_timeout=self.model_timeout,
            heartbeat_timeout=self.model_heartbeat_timeout,
            # Provider retries are off (see resolve_model): Temporal retries, durably.
            retry_policy=preset("EXTERNAL_API", maximum_attempts=8),
        )
        toolsets: list[Any] = [toolset] if tools else []
        mcp_configs: dict[str, workflow.ActivityConfig] = {}
        for server in self.mcp_servers:
            toolsets.append(server.toolset(self.name))
            mcp_configs[server.toolset_id(self.name)] = workflow.ActivityConfig(
                start_to_close_timeout=server.timeout, retry_policy=preset("EXTERNAL_API")
            )
        return Agent(
            resolve_model(self.model, settings),
            name=self.name,
            instructions=self.instructions or None,
            output_type=self.output_type,
            toolsets=toolsets or None,
            description=self.description or None,
            capabilities=[
                AgentHubCapability(
                    self.name, {t.name: t for t in tools}, tuple(self.approvers), self.limiter
                ),
                TemporalDurability(
                    model_activity_config=model_config, toolset_activity_config=mcp_configs
                ),
                # A model named for one task (a fork, an evaluation) resolves like the
                # agent's own: through agenthub's settings.
                ResolveModelId(lambda ctx, model_id: resolve_model(model_id, settings)),
            ],
        )


def _signature(function: Callable[..., Any]) -> str:
    import inspect

    try:
        return str(inspect.signature(function, eval_str=True))
    except Exception:  # a name only known under TYPE_CHECKING: keep it as written
        return str(inspect.signature(function))


def check_model_name(model: str) -> str:
    """``model`` if it is a model string agenthub resolves (see the module docstring).

    Raises:
        ConfigurationError: another form.
    """
    provider, _, name = model.partition(":")
    if model == OFFLINE_MODEL or (provider in ("openai", "anthropic") and name.strip()):
        return model
    raise ConfigurationError(
        f"model {model[:80]!r} is not known: use 'offline', 'openai:<model>' or 'anthropic:<model>'"
    )


def resolve_model(model: Any, settings: Settings) -> Any:
    """A pydantic-ai ``Model`` for ``model`` (a string, or a ``Model`` returned as is).

    Raises:
        ConfigurationError: an unknown provider prefix, or a hosted model with no key.
    """
    from pydantic_ai.models import Model

    if isinstance(model, Model):
        return model
    if not isinstance(model, str) or not model.strip() or model == OFFLINE_MODEL:
        from pydantic_ai.models.test import TestModel

        return TestModel()
    provider, _, name = model.partition(":")
    if provider == "openai" and name:
        from openai import AsyncOpenAI
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        # A local OpenAI-compatible server needs a base URL and usually no key.
        key = settings.openai_api_key or os.environ.get("OPENAI_API_KEY")
        if not key and not settings.openai_base_url:
            raise ConfigurationError(
                f"model {model!r} needs AGENTHUB_OPENAI_API_KEY (or OPENAI_API_KEY), or "
                "AGENTHUB_OPENAI_BASE_URL for a local OpenAI-compatible server"
            )
        client = AsyncOpenAI(
            base_url=settings.openai_base_url or None,
            api_key=key or "none",
            max_retries=0,  # Temporal retries the activity instead
        )
        return OpenAIChatModel(name, provider=OpenAIProvider(openai_client=client))
    if provider == "anthropic" and name:
        from anthropic import AsyncAnthropic
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        key = settings.anthropic_api_key or None
        if key is None and not os.environ.get("ANTHROPIC_API_KEY"):
            raise ConfigurationError(
                f"model {model!r} needs AGENTHUB_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY)"
            )
        anthropic_client = AsyncAnthropic(api_key=key, max_retries=0)
        return AnthropicModel(name, provider=AnthropicProvider(anthropic_client=anthropic_client))
    raise ConfigurationError(
        f"model {model!r} is not known: use 'offline', 'openai:<model>' (also for "
        "OpenAI-compatible servers via AGENTHUB_OPENAI_BASE_URL) or 'anthropic:<model>'"
    )
