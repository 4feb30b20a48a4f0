"""Agents for the agent tests: scripted offline models (pydantic-ai's FunctionModel) and
tools that record what they did."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from agenthub.agents import (
    AgentLimits,
    AgentSpec,
    AgentsPlugin,
    SessionBudget,
    idempotency_key,
    tool,
)
from agenthub.errors import BusinessRuleViolation, TransientFailure
from agenthub.runtime import AgentHubPlugin, Settings

EFFECTS: list[str] = []
UNDONE: list[str] = []
KEYS: dict[str, list[str]] = defaultdict(list)
RELEASE = asyncio.Event()
STARTED = asyncio.Event()


def scripted(*turns: list[tuple[str, dict[str, Any]]] | str) -> FunctionModel:
    """A model that plays ``turns`` in order: a list of tool calls, or the final text. The
    final text may use ``{returns}``: the tool results it has seen."""

    def play(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        done = sum(isinstance(m, ModelResponse) for m in messages)
        turn = turns[min(done, len(turns) - 1)]
        if isinstance(turn, str):
            returns = [
                str(p.content)
                for m in messages
                for p in getattr(m, "parts", [])
                if isinstance(p, ToolReturnPart)
            ]
            return ModelResponse(parts=[TextPart(turn.format(returns=" | ".join(returns)))])
        return ModelResponse(
            parts=[
                ToolCallPart(name, args, tool_call_id=f"call-{done}-{i}")
                for i, (name, args) in enumerate(turn)
            ]
        )

    return FunctionModel(play)


async def cancel_hotel(city: str, nights: int) -> None:
    KEYS["cancel_hotel"].append(idempotency_key())  # the undo's own key, as a hotel API wants
    UNDONE.append(f"hotel {city}")


async def cancel_car(city: str) -> None:
    UNDONE.append(f"car {city}")


@tool(side_effect=True, compensate=cancel_hotel)
async def book_hotel(city: str, nights: int) -> str:
    """Book a hotel room."""
    KEYS["book_hotel"].append(idempotency_key())
    if activity.info().attempt == 1 and city == "Flaky":
        raise TransientFailure("the hotel API hiccupped")
    EFFECTS.append(f"hotel {city} x{nights}")
    return f"hotel booked in {city}"


@tool(compensate=cancel_car)
async def book_car(city: str) -> str:
    """Book a rental car."""
    if city == "Slow":
        STARTED.set()
        await RELEASE.wait()
    EFFECTS.append(f"car {city}")
    return f"car booked in {city}"


@tool(retry="EXTERNAL_API")
async def book_flight(city: str) -> str:
    """Book a flight."""
    raise BusinessRuleViolation(f"no flights to {city}")


@tool(requires_approval=True, timeout=timedelta(seconds=30))
async def pay(amount: int) -> str:
    """Pay for the trip."""
    EFFECTS.append(f"paid {amount}")
    return f"paid {amount}"


def booker(name: str, *turns: list[tuple[str, dict[str, Any]]] | str, **options: Any) -> AgentSpec:
    return AgentSpec(
        name=name,
        instructions="Book what the user asks for.",
        model=scripted(*turns),
        tools=[book_hotel, book_car, book_flight, pay],
        approvers=["ana"],
        **options,
    )


HOTEL = ("book_hotel", {"city": "Lisbon", "nights": 2})
CAR = ("book_car", {"city": "Lisbon"})

AGENTS: list[AgentSpec] = [
    booker("happy", [HOTEL, CAR], "done: {returns}"),
    booker("fails", [HOTEL], [CAR], [("book_flight", {"city": "Lisbon"})], "unreachable"),
    booker("approves", [HOTEL, ("pay", {"amount": 420})], "result: {returns}"),
    booker(
        "approves_three",
        [("pay", {"amount": 1}), ("pay", {"amount": 2}), ("pay", {"amount": 3})],
        "{returns}",
    ),
    booker("flaky", [("book_hotel", {"city": "Flaky", "nights": 1})], "{returns}"),
    booker("chatty", [HOTEL], [CAR], "done", limits=AgentLimits(max_requests=1)),
    booker("slow", [HOTEL], [("book_car", {"city": "Slow"})], "done"),
]


AGENT_NAMES: Callable[[], list[str]] = lambda: [a.name for a in AGENTS]  # noqa: E731


@tool
async def chunk(index: int) -> str:
    """Read one chunk of a long document."""
    return f"[{index}]" + "lorem ipsum " * 330  # ~4 kB, ~1,000 tokens


WIDE = AgentSpec(
    name="wide",
    model=scripted([("chunk", {"index": i}) for i in range(200)], "read {returns}"),
    tools=[chunk],
    limits=AgentLimits(max_requests=5),
)


@tool(requires_approval=True, approval_timeout=timedelta(days=3))
async def pay_later(amount: int) -> str:
    """Pay, once a person agrees (they have three days)."""
    EFFECTS.append(f"paid later {amount}")
    return f"paid later {amount}"


PATIENT = AgentSpec(
    name="patient",
    model=scripted([("pay_later", {"amount": 99})], "{returns}"),
    tools=[pay_later],
    approvers=["ana"],
)


def _remembering(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Says how many user messages it has seen in the conversation, and the first one."""
    from pydantic_ai.messages import UserPromptPart

    prompts = [
        str(p.content) for m in messages for p in getattr(m, "parts", [])
        if isinstance(p, UserPromptPart)
    ]  # fmt: skip
    return ModelResponse(parts=[TextPart(f"heard {len(prompts)}, first: {prompts[0]}")])


CHATTER = AgentSpec(name="chatter", model=FunctionModel(_remembering))
FORGETFUL = AgentSpec(
    name="forgetful",
    model=FunctionModel(_remembering),
    session_budget=SessionBudget(max_messages=6, keep=4),
)
SUMMARIZING = AgentSpec(
    name="summarizing",
    model=FunctionModel(_remembering),
    session_budget=SessionBudget(max_messages=6, keep=4, policy="summarize"),
)


def _role(messages: list[ModelMessage]) -> str:
    from pydantic_ai.messages import UserPromptPart

    prompt = next(
        str(p.content) for m in messages for p in getattr(m, "parts", [])
        if isinstance(p, UserPromptPart)
    )  # fmt: skip
    return prompt.removeprefix("You are the ").split(" of a team")[0]


def _hotel_for(messages: list[ModelMessage]) -> dict[str, Any]:
    return {"city": _role(messages), "nights": 1}


def _teammate(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if not any(isinstance(m, ModelResponse) for m in messages):
        return ModelResponse(
            parts=[ToolCallPart("book_hotel", {"city": _role(messages), "nights": 1})]
        )
    return ModelResponse(parts=[TextPart(f"{_role(messages)} done")])


def _slowmate(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    done = sum(isinstance(m, ModelResponse) for m in messages)
    if done == 0:
        return ModelResponse(
            parts=[ToolCallPart("book_hotel", {"city": _role(messages), "nights": 1})]
        )
    if done == 1:
        return ModelResponse(parts=[ToolCallPart("book_car", {"city": "Slow"})])
    return ModelResponse(parts=[TextPart("slow done")])


def _merger(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    from pydantic_ai.messages import UserPromptPart

    prompt = next(
        str(p.content) for m in messages for p in getattr(m, "parts", [])
        if isinstance(p, UserPromptPart)
    )  # fmt: skip
    answers = sorted(line[2:] for line in prompt.splitlines() if line.startswith("- "))
    return ModelResponse(parts=[TextPart("merged: " + "; ".join(answers))])


TEAM_TOOLS = [book_hotel, book_car, book_flight]
TEAMMATE = AgentSpec(name="teammate", model=FunctionModel(_teammate), tools=TEAM_TOOLS)
BROKEN = booker("broken", [("book_flight", {"city": "Nowhere"})], "unreachable")
SLOWMATE = AgentSpec(name="slowmate", model=FunctionModel(_slowmate), tools=TEAM_TOOLS)
MERGER = AgentSpec(name="merger", model=FunctionModel(_merger))


async def agents_client(
    env: WorkflowEnvironment, settings: Settings, *specs: AgentSpec, teams: Any = ()
) -> Client:
    """A client of ``env``'s server carrying agenthub's plugin and these agents."""
    address = env.client.service_client.config.target_host
    plugins = [AgentHubPlugin(settings), AgentsPlugin(*specs, teams=teams, settings=settings)]
    return await Client.connect(address, plugins=plugins)
