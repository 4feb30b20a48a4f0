"""A long agent task continues as new on its own and stays one task to every reader: the
right answer, every event once from offset 0, each run's history bounded (dev server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from agenthub.agents import AgentLimits, AgentSpec, agent_events, tool
from agenthub.agents.hub import HubTasks
from agenthub.agents.task import AgentTaskResult
from agenthub.runtime import Settings
from agenthub.testing import running_worker

from .agent_apps import agents_client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CALLS = int(__import__("os").environ.get("LONG_CALLS", "5000"))
PER_TURN = 25
COUNTED: list[int] = []
UNDONE: list[int] = []


async def uncount(n: int) -> None:
    UNDONE.append(n)


@tool(side_effect=True, compensate=uncount)
async def count(n: int) -> int:
    """Count one (compensated: a long task's undo list goes along into each run)."""
    COUNTED.append(n)
    return n


def _steps(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    # PER_TURN calls a turn until CALLS were made, then the sum of every result seen.
    results = [
        int(str(p.content)) for m in messages for p in getattr(m, "parts", [])
        if isinstance(p, ToolReturnPart)
    ]  # fmt: skip
    made = len(results)
    if made < CALLS:
        batch = range(made, min(made + PER_TURN, CALLS))
        return ModelResponse(parts=[ToolCallPart("count", {"n": n}) for n in batch])
    return ModelResponse(parts=[TextPart(f"sum {sum(results)} of {made}")])


LONG = AgentSpec(
    name="long-counter", model=FunctionModel(_steps), tools=[count],
    limits=AgentLimits(max_requests=None),
    continue_as_new_events=3000,
)  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def long_hub(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Client, str]]:
    # The conversation so far goes to the next run by reference (offloaded payloads).
    settings = Settings(data_dir=tmp_path_factory.mktemp("long"), payload_offload="true")
    client = await agents_client(dev_server_env, settings, LONG)
    async with running_worker(client, max_concurrent_activities=100) as tq:
        yield client, tq


async def test_five_thousand_tool_calls_continue_as_new_as_one_task(
    long_hub: tuple[Client, str],
) -> None:
    client, tq = long_hub
    tasks = HubTasks(client, task_queue=tq)
    started = await tasks.start("long-counter", "Count to 5000", task_id="long-5000")
    handle = client.get_workflow_handle(started.task.workflow_id, result_type=AgentTaskResult)
    events: list[tuple[int, str]] = []

    async def follow() -> None:  # a reader from offset 0, live, across every run
        async for item in agent_events(client, handle.id):
            events.append((item.offset, item.event.kind))

    reader = asyncio.ensure_future(follow())
    result: Any = await handle.result()
    await asyncio.wait_for(reader, 60)
    assert result.output == f"sum {sum(range(CALLS))} of {CALLS}"
    assert sorted(COUNTED) == list(range(CALLS)) and UNDONE == []  # each call once
    assert result.usage.tool_calls == CALLS

    runs = []
    async for execution in client.list_workflows(f"WorkflowId = '{handle.id}'"):
        runs.append(execution)
    continued = [r for r in runs if r.status == WorkflowExecutionStatus.CONTINUED_AS_NEW]
    assert len(continued) >= 3, len(runs)
    for run in runs:
        history = await client.get_workflow_handle(handle.id, run_id=run.run_id).fetch_history()
        assert len(history.events) < 10_000

    # One task to every reader: listed once, read as succeeded, events once from offset 0.
    listed = [t for t in await tasks.list_tasks(limit=1000) if t.task_id == "long-5000"]
    assert [t.status for t in listed] == ["succeeded"]
    view = await tasks.get("long-5000")
    assert view.status == "succeeded" and view.usage.tool_calls == CALLS
    offsets = [o for o, _ in events]
    kinds = [k for _, k in events]
    assert offsets == list(range(len(offsets))), "every event once, from offset 0"
    assert kinds[0] == "goal" and kinds[-1] == "answer"
    assert kinds.count("continued") == len(continued)
    assert kinds.count("tool_result") == CALLS
