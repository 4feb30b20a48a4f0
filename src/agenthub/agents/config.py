"""Agents and teams declared in ``agenthub.toml``, validated at start.

``agenthub up`` and ``agenthub worker`` load the file named by ``AGENTHUB_CONFIG`` (or
``--config``), else ``agenthub.toml`` beside the data dir (the project root). Tools, their
compensations and output types are named by import path (``pkg.module:function``). Every
mistake is reported at once, each naming the file, the key and what to write instead.

Example ``agenthub.toml``::

    [agents.trip]
    instructions = "Plan trips. Book only what the user asked for."
    model = "offline"                      # or "openai:gpt-4o-mini", "anthropic:..."
    approvers = ["ana"]
    tools = [
        "myapp.tools:search_flights",    # a function, or an @tool declaration
        { use = "myapp.tools:book_hotel", compensate = "myapp.tools:cancel_hotel" },
        { use = "myapp.tools:pay", side_effect = true, requires_approval = true },
    ]
    limits = { max_requests = 20, deadline = "10m" }

    [teams.planners]
    merger = "trip"
    members = [{ role = "flights", agent = "trip" }, { role = "hotels", agent = "trip" }]

And in Python::

    hub = load_hub_config(Path("agenthub.toml"))
    client = await connect(settings, plugins=[hub.plugin()])
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from agenthub.agents.goals import check_goal_template
from agenthub.agents.limiter import LimiterSpec
from agenthub.agents.schedules import ScheduleSpecConfig, check_schedule
from agenthub.agents.spec import (
    AgentLimits,
    AgentSpec,
    MCPServerSpec,
    SessionBudget,
    resolve_model,
)
from agenthub.agents.team import TeamMember, TeamSpec
from agenthub.agents.tools import AgentTool, AnyTool, tool
from agenthub.agents.webhooks import WebhookSpec
from agenthub.errors import ConfigurationError
from agenthub.patterns.fanout import CollectErrors, FailFast, Tolerate
from agenthub.patterns.retry import PresetName
from agenthub.runtime.imports import resolve_import
from agenthub.runtime.settings import Settings

if TYPE_CHECKING:
    from agenthub.agents.plugin import AgentsPlugin

__all__ = ["CONFIG_FILE", "HubConfig", "find_hub_config", "load_hub_config"]

CONFIG_FILE = "agenthub.toml"

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")


def _duration(value: Any) -> Any:
    """``"30s"``, ``"10m"``, ``"2h"``, ``"1d"`` or a number of seconds, as a timedelta."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '30s', '10m', '2h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration; write e.g. '30s', '10m', '2h', '1d'")
        seconds = float(match[1]) * _UNITS[match[2]]
    else:
        return value
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


def _import_path(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", value):
        raise ValueError("write an import path like 'pkg.module:function'")
    return value


def _name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", value):
        raise ValueError("a name starts with a letter, then up to 63 letters, digits, _ or -")
    return value


def _tool_entry(value: Any) -> Any:
    return {"use": value} if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
ImportPath = Annotated[str, AfterValidator(_import_path)]
Name = Annotated[str, AfterValidator(_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LimitsConfig(_Strict):
    max_requests: Annotated[int, Field(gt=0)] | None = 50
    max_tool_calls: Annotated[int, Field(gt=0)] | None = None
    max_total_tokens: Annotated[int, Field(gt=0)] | None = None
    deadline: Duration | None = None


class ToolConfig(_Strict):
    use: ImportPath
    name: str | None = None
    description: str | None = None
    side_effect: bool | None = None
    compensate: ImportPath | None = None
    requires_approval: bool | None = None
    approvers: list[str] | None = None
    approval_timeout: Duration | None = None
    timeout: Duration | None = None
    undo_timeout: Duration | None = None
    retry: PresetName | None = None


class MCPServerConfig(_Strict):
    id: Name
    command: str = ""
    args: list[str] = []
    env: dict[str, str] = {}
    url: str = ""
    timeout: Duration = timedelta(minutes=1)
    tool_prefix: str = ""


class LimiterConfig(_Strict):
    name: Name
    max_concurrent: Annotated[int, Field(ge=1)] = 4
    tokens_per_minute: Annotated[int, Field(ge=1)] | None = None
    lease: Duration = timedelta(minutes=10)


class SessionBudgetConfig(_Strict):
    max_messages: Annotated[int, Field(ge=3)] = 200
    keep: Annotated[int, Field(ge=2)] = 40
    policy: Literal["truncate", "summarize"] = "truncate"
    summarizer: str = ""


class AgentConfig(_Strict):
    instructions: str = ""
    description: str = ""
    model: str = "offline"
    tools: list[Annotated[ToolConfig, BeforeValidator(_tool_entry)]] = []
    approvers: list[str] = []
    limits: LimitsConfig = LimitsConfig()
    mcp_servers: list[MCPServerConfig] = []
    limiter: LimiterConfig | None = None
    session_budget: SessionBudgetConfig = SessionBudgetConfig()
    model_timeout: Duration = timedelta(minutes=5)
    model_heartbeat_timeout: Duration = timedelta(seconds=30)
    output_type: ImportPath | None = None
    double_texting: Literal["enqueue", "reject", "interrupt", "rollback"] = "enqueue"
    continue_as_new_events: Annotated[int, Field(ge=100)] | None = None


class MemberConfig(_Strict):
    role: Name
    agent: Name
    brief: str = ""


class TeamConfig(_Strict):
    members: Annotated[list[MemberConfig], Field(min_length=1)]
    merger: Name
    max_concurrency: Annotated[int, Field(ge=1)] = 4
    failures: Literal["fail_fast", "collect_errors"] | Annotated[int, Field(ge=0)] = "fail_fast"
    """``fail_fast``, ``collect_errors``, or how many members may fail (a number)."""


class ScheduleConfig(_Strict):
    agent: Name
    goal: str
    cron: str = ""
    every: Duration | None = None
    timezone: str = "UTC"
    overlap: Literal["skip", "buffer_one", "cancel_previous", "allow_all"] = "skip"
    catchup_window: Duration = timedelta(minutes=10)
    jitter: Duration = timedelta(0)
    paused: bool = False
    tenant: Name = "default"


class WebhookConfig(_Strict):
    agent: Name
    goal: str
    signature: Literal["hmac-sha256", "timestamped"] = "hmac-sha256"
    signature_header: str = ""
    secret_env: str = ""
    secret_file: str = ""
    delivery_header: str = ""
    tolerance: Duration = timedelta(minutes=5)
    tenant: Name = "default"


class HubFile(_Strict):
    agents: dict[Name, AgentConfig] = {}
    teams: dict[Name, TeamConfig] = {}
    schedules: dict[Name, ScheduleConfig] = {}
    webhooks: dict[Name, WebhookConfig] = {}


_MODELS = (
    LimitsConfig, ToolConfig, MCPServerConfig, LimiterConfig, SessionBudgetConfig, AgentConfig,
    MemberConfig, TeamConfig, ScheduleConfig, WebhookConfig, HubFile,
)  # fmt: skip
_KEYS = sorted({name for model in _MODELS for name in model.model_fields})


@dataclass
class HubConfig:
    """What a config file declared: agent and team specs, ready for :class:`AgentsPlugin`."""

    path: Path | None
    agents: list[AgentSpec] = field(default_factory=list)
    teams: list[TeamSpec] = field(default_factory=list)
    schedules: list[ScheduleSpecConfig] = field(default_factory=list)
    """``[schedules.NAME]``: created or updated by ``up`` and ``worker``."""
    webhooks: list[WebhookSpec] = field(default_factory=list)
    """``[webhooks.NAME]``: served at ``POST /hooks/NAME`` by the HTTP API."""

    def plugin(self, settings: Settings | None = None) -> AgentsPlugin:
        """An :class:`~agenthub.agents.AgentsPlugin` running these agents and teams."""
        from agenthub.agents.plugin import AgentsPlugin

        return AgentsPlugin(*self.agents, teams=self.teams, settings=settings)


def find_hub_config(settings: Settings) -> Path | None:
    """The config file to load: ``settings.config`` if set (it must exist), else
    ``agenthub.toml`` beside the data dir, else ``None``.

    Raises:
        ConfigurationError: ``settings.config`` names a file that does not exist.
    """
    if settings.config:
        path = Path(settings.config).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"AGENTHUB_CONFIG={settings.config}: no such file; create it or unset the variable"
            )
        return path
    beside = settings.data_dir.parent / CONFIG_FILE
    return beside if beside.is_file() else None


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("[key]", "use") or "[" in part or "-" in part:
            continue  # pydantic's own markers and union branches, not keys of the file
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _problem(error: Any) -> str:
    where = _where(tuple(error.get("loc", ())))
    if error.get("type") == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, _KEYS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; remove it"
        return f"{where}: unknown key {key!r}{hint}"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message} (got {error.get('input')!r:.80})"


def _import(path: str, where: str, source: str) -> Any:
    return resolve_import(path, where=f"{source}: {where}")[1]


def _agent_tool(item: ToolConfig, where: str, source: str) -> AnyTool:
    found = _import(item.use, where, source)
    if not (callable(found) or isinstance(found, AgentTool)):
        raise ConfigurationError(f"{source}: {where}: {item.use} is not a function")
    options: dict[str, Any] = {
        name: value
        for name, value in item.model_dump(exclude={"use", "compensate"}).items()
        if value is not None
    }
    if "approvers" in options:
        options["approvers"] = tuple(options["approvers"])
    if item.compensate:
        options["compensate"] = _import(item.compensate, f"{where}.compensate", source)
    try:
        if isinstance(found, AgentTool):
            return dataclasses.replace(found, **options) if options else found
        return tool(found, **options)
    except ConfigurationError as err:
        raise ConfigurationError(f"{source}: {where}: {err}") from None


def _failures(value: str | int) -> Any:
    if value == "fail_fast":
        return FailFast()
    if value == "collect_errors":
        return CollectErrors()
    return Tolerate(max_failures=int(value))


def _build_agent(name: str, config: AgentConfig, source: str, settings: Settings) -> AgentSpec:
    key = f"agents.{name}"
    tools = [_agent_tool(item, f"{key}.tools[{i}]", source) for i, item in enumerate(config.tools)]
    limits = config.limits
    try:
        resolve_model(config.model, settings)  # a bad provider or a missing key, now
        return AgentSpec(
            name=name,
            instructions=config.instructions,
            description=config.description,
            model=config.model,
            tools=tools,
            approvers=list(config.approvers),
            limits=AgentLimits(**limits.model_dump()),
            output_type=(
                _import(config.output_type, f"{key}.output_type", source)
                if config.output_type
                else str
            ),
            mcp_servers=[
                MCPServerSpec(**{**m.model_dump(), "args": tuple(m.args), "env": m.env or None})
                for m in config.mcp_servers
            ],
            limiter=(
                LimiterSpec(**config.limiter.model_dump()) if config.limiter is not None else None
            ),
            session_budget=SessionBudget(**config.session_budget.model_dump()),
            model_timeout=config.model_timeout,
            model_heartbeat_timeout=config.model_heartbeat_timeout,
            double_texting=config.double_texting,
            continue_as_new_events=config.continue_as_new_events,
        )
    except ConfigurationError as err:
        raise ConfigurationError(f"{source}: {key}: {err}") from None


def load_hub_config(
    path: Path, settings: Settings | None = None, *, text: str | None = None
) -> HubConfig:
    """Read and check ``path``: every agent's tools imported, models resolved, teams'
    agents declared.

    Raises:
        ConfigurationError: the file is not TOML, a key is unknown or has a wrong value, an
            import path does not resolve, or a team names an agent that is not declared; the
            message names the file and the key (all problems of the schema at once).
    """
    settings = settings or Settings.from_env()
    source = str(path)
    try:
        raw = tomllib.loads(text if text is not None else path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigurationError(f"{source}: cannot read: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigurationError(f"{source}: not valid TOML: {err}") from None
    try:
        parsed = HubFile.model_validate(raw)
    except ValidationError as err:
        problems = [_problem(e) for e in err.errors()]
        raise ConfigurationError(
            f"{source}: {len(problems)} problem(s): " + "; ".join(problems)
        ) from None
    agents = [
        _build_agent(name, config, source, settings) for name, config in parsed.agents.items()
    ]
    teams: list[TeamSpec] = []
    for name, team in parsed.teams.items():
        missing = sorted(({m.agent for m in team.members} | {team.merger}) - set(parsed.agents))
        if missing:
            raise ConfigurationError(
                f"{source}: teams.{name}: names agents not declared here: {missing}; add "
                f"[agents.{missing[0]}] or fix the name (declared: {sorted(parsed.agents)})"
            )
        try:
            teams.append(
                TeamSpec(
                    name,
                    [TeamMember(m.role, m.agent, m.brief) for m in team.members],
                    team.merger,
                    team.max_concurrency,
                    _failures(team.failures),
                )
            )
        except ConfigurationError as err:
            raise ConfigurationError(f"{source}: teams.{name}: {err}") from None
    names = set(parsed.agents) | set(parsed.teams)
    schedules = [_schedule(name, item, source, names) for name, item in parsed.schedules.items()]
    webhooks = [_webhook(name, item, source, names, path) for name, item in parsed.webhooks.items()]
    return HubConfig(path, agents, teams, schedules, webhooks)


def _starts(kind: str, name: str, agent: str, names: set[str], source: str) -> str:
    where = f"{source}: {kind}.{name}"
    if agent not in names:
        raise ConfigurationError(
            f"{where}.agent: {agent!r} is not an agent or team of this file (declared: "
            f"{sorted(names)})"
        )
    return where


def _schedule(name: str, item: ScheduleConfig, source: str, names: set[str]) -> ScheduleSpecConfig:
    where = _starts("schedules", name, item.agent, names, source)
    check_goal_template(item.goal, {"fire_time", "date", "schedule"}, f"{where}.goal")
    spec = ScheduleSpecConfig(name, **item.model_dump())
    check_schedule(spec, where)
    return spec


def _webhook(
    name: str, item: WebhookConfig, source: str, names: set[str], path: Path
) -> WebhookSpec:
    where = _starts("webhooks", name, item.agent, names, source)
    check_goal_template(item.goal, {"body", "hook"}, f"{where}.goal")
    if bool(item.secret_env) == bool(item.secret_file):
        raise ConfigurationError(
            f'{where}: set exactly one of secret_env = "VAR" or secret_file = "path" (the '
            "shared secret the sender signs with; never the secret itself in this file)"
        )
    if item.secret_env:
        secret = os.environ.get(item.secret_env, "")
        if not secret:
            raise ConfigurationError(f"{where}.secret_env: {item.secret_env} is not set")
    else:
        file = (path.parent / item.secret_file).expanduser()
        try:
            secret = file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigurationError(
                f"{where}.secret_file: cannot read {file}: {err.strerror or err}"
            ) from None
    if len(secret) < 16:
        raise ConfigurationError(f"{where}: the secret is shorter than 16 characters")
    return WebhookSpec(
        name, item.agent, item.goal, secret.encode(), item.signature, item.signature_header,
        item.delivery_header, item.tolerance, item.tenant,
    )  # fmt: skip
