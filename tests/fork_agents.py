"""Agents for the fork and evaluation tests: a trip of four steps (a compensated hotel, an
approved payment, a flight chosen by the instructions, the answer), with every effect and
undo counted here, outside agenthub."""

from __future__ import annotations

from collections import Counter

from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agenthub.agents import AgentSpec, TeamMember, TeamSpec, idempotency_key, tool
from agenthub.errors import BusinessRuleViolation

EFFECTS: Counter[str] = Counter()
"""Every effect of a tool or an undo, by what it did (``hotel Lisbon``, ``undo hotel ...``)."""
UNDO_KEYS: list[str] = []


async def cancel_hotel(city: str, nights: int) -> None:
    UNDO_KEYS.append(idempotency_key())
    EFFECTS[f"undo hotel {city}"] += 1


@tool(side_effect=True, compensate=cancel_hotel)
async def book_hotel(city: str, nights: int) -> str:
    """Book a hotel room."""
    EFFECTS[f"hotel {city}"] += 1
    return f"hotel in {city} for {nights} nights"


@tool(requires_approval=True)
async def pay(amount: int) -> str:
    """Pay for the trip."""
    EFFECTS[f"paid {amount}"] += 1
    return f"paid {amount}"


@tool(side_effect=True)
async def book_flight(flight: str) -> str:
    """Book a flight."""
    if flight == "FAIL":
        raise BusinessRuleViolation("flight FAIL is full")
    EFFECTS[f"flight {flight}"] += 1
    return f"flight {flight} booked"


def _returns(messages: list[ModelMessage]) -> list[str]:
    return [
        str(p.content) for m in messages for p in getattr(m, "parts", [])
        if isinstance(p, ToolReturnPart)
    ]  # fmt: skip


def _trip(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Hotel, payment, a flight (``LH9`` when told "Lufthansa", ``FAIL`` when told "fail",
    else ``TP123``), then the answer."""
    done = sum(isinstance(m, ModelResponse) for m in messages)
    told = info.instructions or ""
    if done == 0:
        return ModelResponse(parts=[ToolCallPart("book_hotel", {"city": "Lisbon", "nights": 2},
                                                 tool_call_id="c1")])  # fmt: skip
    if done == 1:
        return ModelResponse(parts=[ToolCallPart("pay", {"amount": 420}, tool_call_id="c2")])
    if done == 2:
        flight = "LH9" if "Lufthansa" in told else "FAIL" if "fail" in told else "TP123"
        return ModelResponse(parts=[ToolCallPart("book_flight", {"flight": flight},
                                                 tool_call_id="c3")])  # fmt: skip
    tone = "Gladly" if "cheerful" in told else "Done"
    return ModelResponse(parts=[TextPart(f"{tone}: {' | '.join(_returns(messages))}")])


TRIP = AgentSpec(
    name="fk-trip",
    instructions="Book the trip.",
    model=FunctionModel(_trip),
    tools=[book_hotel, pay, book_flight],
    approvers=["ana"],
)


@tool(side_effect=True, compensate=cancel_hotel, name="reserve_hotel")
async def reserve_hotel(city: str, nights: int) -> str:
    """Book a hotel room (the same tool, renamed)."""
    EFFECTS[f"hotel {city}"] += 1
    return f"hotel in {city} for {nights} nights"


RENAMED = AgentSpec(
    name="fk-renamed",
    model=FunctionModel(_trip),
    tools=[reserve_hotel, pay, book_flight],
    approvers=["ana"],
)


def _prompt(messages: list[ModelMessage]) -> str:
    return [
        str(p.content) for m in messages for p in getattr(m, "parts", [])
        if isinstance(p, UserPromptPart)
    ][-1]  # fmt: skip


def _mate(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """A team member (or a chat turn): books a hotel in the city its prompt ends with, then
    says so, and how many prompts it has seen."""
    prompt = _prompt(messages)
    city = prompt.split("Go to ")[1].split(".")[0] if "Go to " in prompt else prompt.split()[-1]
    if not isinstance(messages[-1].parts[0], ToolReturnPart):
        return ModelResponse(parts=[ToolCallPart("book_hotel", {"city": city, "nights": 1})])
    prompts = sum(isinstance(p, UserPromptPart) for m in messages for p in m.parts)
    said = f"{city} booked ({prompts} prompts, {info.instructions})"
    return ModelResponse(parts=[TextPart(said)])


MATE = AgentSpec(name="fk-mate", instructions="mate", model=FunctionModel(_mate),
                 tools=[book_hotel])  # fmt: skip


def _merge(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart("merged")])


MERGER = AgentSpec(name="fk-merger", model=FunctionModel(_merge))
TEAM = TeamSpec(
    name="fk-team",
    members=[
        TeamMember("scout", "fk-mate", brief="Go to Porto."),
        TeamMember("guide", "fk-mate", brief="Go to Faro."),
    ],
    merger="fk-merger",
)


def _answer_of(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """For evaluations: looks up the city of its goal, then answers with what it found
    (``shout`` in the instructions changes the answer, ``double`` the tool calls)."""
    done = sum(isinstance(m, ModelResponse) for m in messages)
    city = _prompt(messages).split()[-1]
    told = info.instructions or ""
    calls = 2 if "double" in told and city.endswith("7") else 1
    if done < calls:
        return ModelResponse(parts=[ToolCallPart("weather", {"city": city, "day": done})])
    answer = f"{city}: {' | '.join(_returns(messages))}"
    return ModelResponse(parts=[TextPart(answer.upper() if "shout" in told else answer)])


@tool
async def weather(city: str, day: int) -> str:
    """The weather of a city."""
    EFFECTS[f"weather {city}"] += 1
    return f"sunny in {city} on day {day}"


FORECASTER = AgentSpec(name="fk-forecaster", instructions="plain", model=FunctionModel(_answer_of),
                       tools=[weather])  # fmt: skip


@tool
async def long_report(topic: str) -> str:
    """A long report (300 kB: past the payload offload threshold)."""
    return f"{topic}: " + "données ünïcødé 漢字 " * 12_000


def _reporter(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if not any(isinstance(m, ModelResponse) for m in messages):
        return ModelResponse(parts=[ToolCallPart("long_report", {"topic": "Lisbon"})])
    return ModelResponse(parts=[TextPart(f"read {len(_returns(messages)[0])} characters")])


REPORTER = AgentSpec(name="fk-reporter", model=FunctionModel(_reporter), tools=[long_report])

AGENTS = [TRIP, RENAMED, MATE, MERGER, FORECASTER, REPORTER]
