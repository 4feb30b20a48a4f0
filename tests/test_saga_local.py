"""Saga steps as local activities: same order of undos, undos still regular activities, a
cancel waits for the local step to stop before undoing, and options a local step cannot take
are refused by name."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from agenthub.testing import running_worker

from .saga_local_workflows import (
    CALLS,
    STEP_GATE,
    STEP_STARTED,
    HeartbeatingLocalSaga,
    LocalPlan,
    LocalStepSaga,
    MixedSaga,
    local_step,
    remote_undo,
)


@pytest.fixture
async def tq(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[str]:
    async with running_worker(
        time_skipping_env.client,
        workflows=[LocalStepSaga, MixedSaga, HeartbeatingLocalSaga],
        activities=[local_step, remote_undo],
    ) as task_queue:
        yield task_queue


async def _types(env: WorkflowEnvironment, wid: str) -> tuple[list[str], int]:
    """Activity types scheduled as regular activities, and local activity markers."""
    history = await env.client.get_workflow_handle(wid).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    markers = sum(e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED for e in history.events)
    return scheduled, markers


async def test_local_steps_undo_newest_first_with_regular_undos(
    time_skipping_env: WorkflowEnvironment, tq: str
) -> None:
    wid = f"local-{uuid.uuid4()}"
    plan = LocalPlan(steps=["car", "hotel", "flight"], fail_at="flight")
    with pytest.raises(WorkflowFailureError):
        await time_skipping_env.client.execute_workflow(
            LocalStepSaga.run, plan, id=wid, task_queue=tq
        )
    assert CALLS[wid] == [
        "do:car", "do:hotel", "do:flight", "undo:flight", "undo:hotel", "undo:car",
    ]  # fmt: skip
    scheduled, markers = await _types(time_skipping_env, wid)
    assert scheduled == ["remote_undo"] * 3  # the steps never became activity tasks
    assert markers >= 3


async def test_local_and_regular_steps_mix_per_step(
    time_skipping_env: WorkflowEnvironment, tq: str
) -> None:
    wid = f"mixed-{uuid.uuid4()}"
    result = await time_skipping_env.client.execute_workflow(
        MixedSaga.run, LocalPlan(steps=["a", "b"]), id=wid, task_queue=tq
    )
    assert result == ["a ok", "b ok"]
    scheduled, markers = await _types(time_skipping_env, wid)
    assert scheduled == ["local_step"] and markers == 1


async def test_cancel_during_a_local_step_undoes_only_after_it_stopped(
    time_skipping_env: WorkflowEnvironment, tq: str
) -> None:
    client = time_skipping_env.client
    wid = f"local-slow-{uuid.uuid4()}"
    plan = LocalPlan(steps=["charge"], slow="charge")
    handle = await client.start_workflow(LocalStepSaga.run, plan, id=wid, task_queue=tq)
    await STEP_STARTED[wid].wait()
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert isinstance(info.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    # The step was stopped (it never landed), and only then was it undone.
    assert CALLS[wid] == ["stopped:charge", "undo:charge"]
    STEP_GATE[wid].set()


async def test_a_local_step_refuses_options_it_cannot_have(
    time_skipping_env: WorkflowEnvironment, tq: str
) -> None:
    message = await time_skipping_env.client.execute_workflow(
        HeartbeatingLocalSaga.run, LocalPlan(steps=["x"]), id=f"hb-{uuid.uuid4()}", task_queue=tq
    )
    assert "unknown local activity option(s) heartbeat_timeout" in message
    assert "make it a regular step with local=False" in message
