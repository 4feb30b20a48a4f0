"""A team: three researchers work on one goal in parallel (fan-out), one of them fails, and
the planner merges what the others found (the team tolerates one failure).

Runs offline: the models are scripted stand-ins.

    python examples/agents/team.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agenthub.agents import AgentSpec, AgentsPlugin, TeamMember, TeamSpec, run_team, tool
from agenthub.errors import PermanentFailure
from agenthub.patterns.fanout import Tolerate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_common.py
from _common import embedded_worker

TASK_QUEUE = "example-team"
FINDINGS = {"flights": "TAP at 9:05", "hotels": "Casa do Largo, 2 nights", "food": ""}


def _prompt(messages: list[ModelMessage]) -> str:
    return next(
        str(p.content) for m in messages for p in getattr(m, "parts", [])
        if isinstance(p, UserPromptPart)
    )  # fmt: skip


@tool
async def food_guide(city: str) -> str:
    """Look up where to eat."""
    raise PermanentFailure(f"the food guide of {city} is offline")


def research(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """A stand-in researcher: answers for its role; the food one needs a tool that fails."""
    role = _prompt(messages).removeprefix("You are the ").split(" of a team")[0]
    if not FINDINGS[role]:
        return ModelResponse(parts=[ToolCallPart("food_guide", {"city": "Lisbon"})])
    return ModelResponse(parts=[TextPart(FINDINGS[role])])


def plan(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """A stand-in planner: lists what the team found."""
    found = [line[2:] for line in _prompt(messages).splitlines() if line.startswith("- ")]
    return ModelResponse(parts=[TextPart("Plan: " + "; ".join(found))])


RESEARCHER = AgentSpec(name="researcher", model=FunctionModel(research), tools=[food_guide])
PLANNER = AgentSpec(name="planner", model=FunctionModel(plan))
TRIP_TEAM = TeamSpec(
    name="trip-team",
    members=[TeamMember(role, "researcher") for role in FINDINGS],
    merger="planner",
    failures=Tolerate(max_failures=1),
)


async def main() -> None:
    plugin = AgentsPlugin(RESEARCHER, PLANNER, teams=[TRIP_TEAM])
    async with embedded_worker(TASK_QUEUE, [], [], plugins=[plugin]) as (client, queue):
        result = await run_team(client, "trip-team", "A weekend in Lisbon", task_queue=queue)
        for member in result.members:
            print(f"{member.role:<8} {member.output or 'failed: ' + member.error}")
        print(result.output)
        print(f"usage: {result.usage.requests} model requests")


if __name__ == "__main__":
    asyncio.run(main())
