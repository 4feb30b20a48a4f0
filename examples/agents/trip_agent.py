"""A trip-planning agent whose tools book for real: side effects act once, bookings are
undone newest first when a later step fails, and the payment waits for a person.

Runs offline: the model is a scripted stand-in (pydantic-ai's FunctionModel). Set
``model="openai:gpt-4o-mini"`` (and AGENTHUB_OPENAI_API_KEY) to plan with a real one.

    python examples/agents/trip_agent.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from temporalio.client import Client, WorkflowFailureError

from agenthub.agents import AgentSpec, AgentsPlugin, agent_task_status, start_agent_task, tool
from agenthub.errors import PermanentFailure
from agenthub.patterns.approvals import PendingApproval, decide, list_pending
from agenthub.patterns.saga import saga_progress

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_common.py
from _common import embedded_worker

TASK_QUEUE = "example-trip-agent"


async def cancel_hotel(city: str, nights: int) -> None:
    print(f"  undo: hotel in {city} cancelled")


async def cancel_car(city: str) -> None:
    print(f"  undo: car in {city} cancelled")


@tool(side_effect=True, compensate=cancel_hotel)
async def book_hotel(city: str, nights: int) -> str:
    """Book a hotel room for some nights."""
    return f"hotel in {city} for {nights} nights"


@tool(side_effect=True, compensate=cancel_car)
async def book_car(city: str) -> str:
    """Rent a car."""
    return f"car in {city}"


@tool
async def book_flight(city: str) -> str:
    """Book a flight."""
    raise PermanentFailure(f"no seats to {city}")


@tool(side_effect=True, requires_approval=True)
async def pay(amount_eur: int) -> str:
    """Pay for the trip."""
    return f"paid {amount_eur} EUR"


def scripted(*turns: list[tuple[str, dict[str, Any]]] | str) -> FunctionModel:
    """A stand-in model that plays its turns in order: tool calls, then an answer."""

    def play(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        turn = turns[min(sum(isinstance(m, ModelResponse) for m in messages), len(turns) - 1)]
        if isinstance(turn, str):
            return ModelResponse(parts=[TextPart(turn)])
        return ModelResponse(parts=[ToolCallPart(name, args) for name, args in turn])

    return FunctionModel(play)


LISBON = [("book_hotel", {"city": "Lisbon", "nights": 2}), ("book_car", {"city": "Lisbon"})]
TOOLS = [book_hotel, book_car, book_flight, pay]
PLANNER = AgentSpec(
    name="trip-planner",
    instructions="Plan and book trips; pay only once everything is booked.",
    model=scripted(LISBON, [("pay", {"amount_eur": 420})], "Booked: hotel, car, paid 420 EUR."),
    tools=TOOLS,
    approvers=["ana"],
)
FLYER = AgentSpec(
    name="trip-flyer",
    model=scripted(LISBON, [("book_flight", {"city": "Lisbon"})], "unreachable"),
    tools=TOOLS,
    approvers=["ana"],
)


async def asked(client: Client, queue: str, task_id: str) -> PendingApproval:
    """The task's approval request, once it is in the inbox."""
    while True:
        pending = await list_pending(client, task_queue=queue)
        mine = [p for p in pending if p.workflow_id == task_id]
        if mine:
            return mine[0]
        await asyncio.sleep(0.2)


async def main() -> None:
    plugin = AgentsPlugin(PLANNER, FLYER)
    async with embedded_worker(TASK_QUEUE, [], [], plugins=[plugin]) as (client, queue):
        task = await start_agent_task(
            client, "trip-planner", "2 nights in Lisbon", task_queue=queue
        )
        while not (pending := [p for p in await list_pending(client, task_queue=queue)
                               if p.workflow_id == task.id]):  # fmt: skip
            await asyncio.sleep(0.2)
        status = await agent_task_status(task)
        print(f"waiting for approval: {pending[0].summary} (task is {status.state})")
        await decide(client, pending[0], approved=True, by="ana", reason="within budget")
        result = await task.result()
        print(f"answer: {result.output}")
        print(
            f"usage: {result.usage.requests} model requests, {result.usage.tool_calls} tool calls"
        )

        flyer = await start_agent_task(client, "trip-flyer", "Lisbon, and fly", task_queue=queue)
        try:
            await flyer.result()
        except WorkflowFailureError as err:
            print(f"task failed: {err.cause.cause if err.cause else err}")
        progress = await saga_progress(flyer, "agent")
        print(f"bookings {progress.status}: {len(progress.compensations)} undone newest first")


if __name__ == "__main__":
    asyncio.run(main())
