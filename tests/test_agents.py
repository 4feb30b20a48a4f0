"""Durable agents on the real dev server: pydantic-ai agents as AgentTask workflows, their
tools as activities, with compensation, approvals bound to the call, acting once, limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from agenthub.agents import (
    AgentEventItem,
    AgentsPlugin,
    agent_events,
    agent_task_status,
    run_agent,
    start_agent_task,
)
from agenthub.agents.tools import call_approval_id
from agenthub.errors import CallbackNotFound
from agenthub.patterns.approvals import decide, list_pending
from agenthub.patterns.ledger import open_ledger
from agenthub.runtime import Settings
from agenthub.testing import eventually, running_worker

from . import agent_apps
from .agent_apps import AGENTS, EFFECTS, KEYS, RELEASE, STARTED, UNDONE, agents_client


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def agents(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Client, str]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("agents"), payload_offload="false")
    client = await agents_client(dev_server_env, settings, *AGENTS)
    async with running_worker(client) as tq:
        yield client, tq


@pytest.fixture(autouse=True)
def _clean() -> None:
    EFFECTS.clear()
    UNDONE.clear()
    KEYS.clear()


async def test_an_agent_task_calls_its_tools_as_activities_and_answers(agents) -> None:
    client, tq = agents
    handle = await start_agent_task(client, "happy", "Two nights in Lisbon", task_queue=tq)
    result = await handle.result()
    assert result.output == "done: hotel booked in Lisbon | car booked in Lisbon"
    assert sorted(EFFECTS) == ["car Lisbon", "hotel Lisbon x2"] and UNDONE == []
    assert (result.usage.requests, result.usage.tool_calls) == (2, 2)
    kinds = [e.kind for e in result.transcript]
    assert kinds[0] == "goal" and kinds[-1] == "answer" and kinds.count("tool_call") == 2
    status = await agent_task_status(handle)
    assert (status.state, status.step, status.requests) == ("succeeded", "done", 2)
    # The tools ran as activities of the task's own history.
    events = (await handle.fetch_history()).events
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert any("happy" in name and "tool" in name for name in scheduled), scheduled


async def test_a_failing_task_undoes_its_tool_calls_newest_first(agents) -> None:
    client, tq = agents
    with pytest.raises(WorkflowFailureError):
        await run_agent(client, "fails", "Book it all", task_queue=tq)
    assert EFFECTS == ["hotel Lisbon x2", "car Lisbon"]
    assert UNDONE == ["car Lisbon", "hotel Lisbon"], "LIFO"
    [undo_key] = KEYS["cancel_hotel"]
    assert undo_key.endswith("/fails.book_hotel/undo")  # <task>/<run>/<n>/<agent>.<tool>/undo


async def test_a_tool_needing_approval_waits_for_a_decision_bound_to_the_call(agents) -> None:
    client, tq = agents
    handle = await start_agent_task(client, "approves", "Book and pay", task_queue=tq)

    async def asked():
        pending = await list_pending(client, task_queue=tq)
        return next((p for p in pending if p.workflow_id == handle.id), None)

    approval = await eventually(asked, what="approval asked")
    run_id = (await handle.describe()).run_id
    # Bound to the task run, the call and its arguments.
    assert approval.approval_id == call_approval_id(
        "pay", workflow_id=handle.id, run_id=run_id, seq=1, tool_call_id="call-0-1",
        args={"amount": 420},
    )  # fmt: skip
    assert "pay" in approval.summary
    assert "420" in approval.summary and approval.approvers == ["ana"]
    assert "paid 420" not in EFFECTS, "nothing paid before the decision"
    status = await agent_task_status(handle)
    assert status.state == "waiting_for_approval"
    assert status.waiting_approvals == [approval.approval_id]
    await decide(client, approval, approved=True, by="ana")
    result = await handle.result()
    assert "paid 420" in EFFECTS and "paid 420" in result.output


async def test_three_approvals_resolve_independently_and_a_rejection_is_a_denial(agents) -> None:
    client, tq = agents
    handle = await start_agent_task(client, "approves_three", "Pay thrice", task_queue=tq)

    async def all_asked():
        pending = await list_pending(client, task_queue=tq)
        mine = [p for p in pending if p.workflow_id == handle.id]
        return mine if len(mine) == 3 else None

    one, two, three = sorted(
        await eventually(all_asked, what="3 approvals"), key=lambda p: p.summary
    )
    assert len({one.approval_id, two.approval_id, three.approval_id}) == 3
    # A decision for other arguments than those asked about is refused: the approval id
    # carries the digest of the call's arguments.
    run_id = (await handle.describe()).run_id

    def approval_id(seq: int, call: int, amount: int) -> str:
        return call_approval_id(
            "pay", workflow_id=handle.id, run_id=run_id, seq=seq, tool_call_id=f"call-0-{call}",
            args={"amount": amount},
        )  # fmt: skip

    seq, call = next(
        (s, c) for s in (1, 2, 3) for c in (0, 1, 2) if approval_id(s, c, 2) == two.approval_id
    )
    forged = replace(two, approval_id=approval_id(seq, call, 2000))
    with pytest.raises(CallbackNotFound):
        await decide(client, forged, approved=True, by="ana")
    await decide(client, three, approved=True, by="ana")
    await decide(client, two, approved=False, by="ana", reason="too much")
    await decide(client, one, approved=True, by="ana")
    result = await handle.result()
    assert sorted(EFFECTS) == ["paid 1", "paid 3"]
    assert "paid 1" in result.output and "paid 3" in result.output
    assert "denied by ana: too much" in result.output
    # A resolved approval never fires again.
    assert not [p for p in await list_pending(client, task_queue=tq) if p.workflow_id == handle.id]


async def test_a_side_effect_tool_keeps_its_key_across_retries_and_records_it(agents) -> None:
    client, tq = agents
    plugin = next(p for p in client.config()["plugins"] if isinstance(p, AgentsPlugin))
    ledger = open_ledger(plugin.settings.ledger_location)
    handle = await start_agent_task(client, "flaky", "One night", task_queue=tq)
    result = await handle.result()
    assert "hotel booked in Flaky" in result.output and EFFECTS == ["hotel Flaky x1"]
    first, second = KEYS["book_hotel"]
    assert first == second and first.startswith(f"{handle.id}/") and "flaky.book_hotel/" in first
    record = await ledger.get(first)
    assert record is not None and record.status == "done"
    assert record.result["result"] == "hotel booked in Flaky"


async def test_limits_fail_the_task_clearly(agents) -> None:
    client, tq = agents
    with pytest.raises(WorkflowFailureError) as info:
        await run_agent(client, "chatty", "Book", task_queue=tq)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "UsageLimitExceeded"
    assert cause.non_retryable and "chatty" in cause.message
    assert UNDONE == ["hotel Lisbon"], "what it did is undone"


async def test_cancelling_mid_tool_waits_for_the_call_then_undoes(agents) -> None:
    client, tq = agents
    STARTED.clear()
    RELEASE.clear()
    handle = await start_agent_task(client, "slow", "Book slowly", task_queue=tq)
    await asyncio.wait_for(STARTED.wait(), 30)
    await handle.cancel()

    async def cancel_reached_the_call() -> bool:
        events = (await handle.fetch_history()).events
        return any(e.HasField("activity_task_cancel_requested_event_attributes") for e in events)

    await eventually(cancel_reached_the_call, what="cancel requested of the car call")
    assert UNDONE == [], "the car call is still in flight: no undo may run before it ends"
    RELEASE.set()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert EFFECTS == ["hotel Lisbon x2", "car Slow"]
    assert UNDONE == ["car Slow", "hotel Lisbon"]


async def test_an_agent_never_runs_outside_a_workflow(agents) -> None:
    from pydantic_ai.exceptions import UserError

    plugin_agents = [p for p in agents[0].config()["plugins"] if isinstance(p, AgentsPlugin)]
    agent = plugin_agents[0].agents["happy"]
    with pytest.raises(UserError, match="runs only durably"):
        await agent.run("Book outside")
    assert EFFECTS == []


def test_agent_specs_are_checked_when_declared() -> None:
    from agenthub.agents import AgentSpec
    from agenthub.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="not valid"):
        AgentSpec(name="bad name")
    with pytest.raises(ConfigurationError, match="nobody may approve"):
        AgentSpec(name="x", tools=[agent_apps.pay])
    with pytest.raises(ConfigurationError, match="tools named twice"):
        AgentSpec(name="x", tools=[agent_apps.book_car, agent_apps.book_car])


async def test_a_200_call_turn_over_a_long_transcript_keeps_the_history_small(
    dev_server_env: WorkflowEnvironment, tmp_path
) -> None:
    """200 parallel tool calls, ~200k tokens of results: with offload (the embedded default)
    every payload past 256 KiB travels by reference, so the history stays small."""
    settings = Settings(data_dir=tmp_path, payload_offload="true")
    client = await agents_client(dev_server_env, settings, agent_apps.WIDE)
    async with running_worker(client) as tq:
        handle = await start_agent_task(client, "wide", "Read it all", task_queue=tq)
        result = await handle.result()
    assert result.usage.tool_calls == 200 and result.output.count("lorem") > 60_000
    events = (await handle.fetch_history()).events
    total = sum(e.ByteSize() for e in events)
    assert total < 10_000_000, f"history is {total} bytes"
    assert max(e.ByteSize() for e in events) < 300_000
    print(f"200-call turn: {len(events)} events, {total / 1e6:.2f} MB of history")


async def test_an_approval_gated_tool_waits_days_and_runs_only_after_approval(
    time_skipping_env: WorkflowEnvironment, tmp_path
) -> None:
    settings = Settings(data_dir=tmp_path, payload_offload="false")
    client = await agents_client(time_skipping_env, settings, agent_apps.PATIENT)
    async with running_worker(client) as tq:
        handle = await start_agent_task(client, "patient", "Pay when agreed", task_queue=tq)

        async def asked():
            pending = await list_pending(client, task_queue=tq)
            return next((p for p in pending if p.workflow_id == handle.id), None)

        approval = await eventually(asked, what="approval asked")
        await time_skipping_env.sleep(timedelta(days=2))
        assert (await agent_task_status(handle)).state == "waiting_for_approval"
        assert EFFECTS == [], "two days later, still nothing paid"
        await decide(client, approval, approved=True, by="ana")
        result = await handle.result()
    assert result.output == "paid later 99" and EFFECTS == ["paid later 99"]


async def test_event_readers_see_every_event_in_order_and_resume_without_gaps(agents) -> None:
    client, tq = agents
    handle = await start_agent_task(client, "happy", "Two nights", task_queue=tq)
    everything = [item async for item in agent_events(client, handle.id)]
    kinds = [item.event.kind for item in everything]
    assert [item.offset for item in everything] == list(range(len(everything)))
    assert kinds[0] == "goal" and kinds[-1] == "answer"
    assert kinds.count("tool_call") == 2 and kinds.count("tool_result") == 2
    assert kinds.index("tool_result") > kinds.index("tool_call") > kinds.index("model")
    assert everything[-1].event.data == {"requests": 2, "tool_calls": 2}
    # A reader that stops after 3 events and reconnects from the next offset.
    first: list[AgentEventItem] = []
    async for item in agent_events(client, handle.id):
        first.append(item)
        if len(first) == 3:
            break
    resume = first[-1].offset + 1
    rest = [item async for item in agent_events(client, handle.id, from_offset=resume)]
    assert [i.offset for i in first + rest] == [i.offset for i in everything]
    assert [i.event for i in first + rest] == [i.event for i in everything]


def test_a_synchronous_tool_runs_off_the_event_loop() -> None:
    import threading

    from agenthub.agents import tool
    from agenthub.agents.tools import activity_function

    @tool
    def blocking(n: int) -> str:
        """A tool that blocks."""
        return f"{n} on {threading.current_thread().name}"

    run = activity_function(blocking, "sync", ledger=lambda: None)  # type: ignore[arg-type,return-value]
    result = asyncio.run(run(n=3))
    assert result.startswith("3 on ") and "MainThread" not in result
