"""The agents and teams this process runs, by name.

``AgentsPlugin`` fills it on the host; workflow code reads the same dicts (agenthub passes
through the sandbox), and the HTTP API checks names here before it starts anything.

Example::

    AgentsPlugin(trip)            # registers "trip"
    assert "trip" in agent_specs()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agenthub.errors import ConfigurationError

if TYPE_CHECKING:
    from agenthub.agents.spec import AgentSpec
    from agenthub.agents.team import TeamSpec

__all__ = [
    "agent_entry",
    "agent_specs",
    "register_agent",
    "register_team",
    "team_spec",
    "team_specs",
]

_AGENTS: dict[str, tuple[Any, AgentSpec]] = {}
_TEAMS: dict[str, TeamSpec] = {}


def register_agent(spec: AgentSpec, agent: Any) -> None:
    """Register the built pydantic-ai ``agent`` of ``spec``.

    Raises:
        ConfigurationError: another spec already runs under that name in this process.
    """
    registered = _AGENTS.get(spec.name)
    if registered is not None and registered[1] is not spec:
        raise ConfigurationError(
            f"another AgentsPlugin in this process already runs an agent named {spec.name!r}; "
            "agent names must be unique"
        )
    _AGENTS[spec.name] = (agent, spec)


def agent_entry(name: str) -> tuple[Any, AgentSpec] | None:
    """The built agent and its spec, or ``None`` when no agent has that name here."""
    return _AGENTS.get(name)


def agent_specs() -> dict[str, AgentSpec]:
    """Every agent of this process, by name."""
    return {name: spec for name, (_, spec) in _AGENTS.items()}


def register_team(team: TeamSpec) -> None:
    """Register ``team`` (its agents must be registered by the same plugin)."""
    _TEAMS[team.name] = team


def team_spec(name: str) -> TeamSpec | None:
    """The team of that name, or ``None``."""
    return _TEAMS.get(name)


def team_specs() -> dict[str, TeamSpec]:
    """Every team of this process, by name."""
    return dict(_TEAMS)
