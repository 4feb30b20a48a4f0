"""Saga behaviour on the time-skipping test server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from agenthub.errors import SagaError
from agenthub.patterns.saga import Saga, saga_progress
from agenthub.testing import eventually, running_worker

from .saga_workflows import (
    ATTEMPTS,
    CALLS,
    STEP_GATE,
    STEP_STARTED,
    ManualSaga,
    MisusedSaga,
    Plan,
    PlannedSaga,
    SlowStepSaga,
    do_step,
    land_late,
    undo_late,
    undo_step,
)

WORKFLOWS = [PlannedSaga, ManualSaga, MisusedSaga, SlowStepSaga]
ACTIVITIES = [do_step, undo_step, land_late, undo_late]


@pytest.fixture
async def tq(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[str]:
    """A worker for the saga workflows, running for the whole test (queries need it)."""
    async with running_worker(
        time_skipping_env.client, workflows=WORKFLOWS, activities=ACTIVITIES
    ) as task_queue:
        yield task_queue


async def run_plan(
    env: WorkflowEnvironment, tq: str, plan: Plan
) -> tuple[str, BaseException | None]:
    wid = f"saga-{uuid.uuid4()}"
    try:
        await env.client.execute_workflow(PlannedSaga.run, plan, id=wid, task_queue=tq)
    except WorkflowFailureError as err:
        return wid, err.cause
    return wid, None


def root(err: BaseException | None) -> ApplicationError:
    while isinstance(err, ActivityError):
        err = err.cause
    assert isinstance(err, ApplicationError), err
    return err


async def test_success_runs_no_undo(time_skipping_env: WorkflowEnvironment, tq: str) -> None:
    wid, err = await run_plan(time_skipping_env, tq, Plan(steps=["car", "hotel"]))
    assert err is None
    assert CALLS[wid] == ["do:car", "do:hotel"]


async def test_undos_run_newest_first(time_skipping_env: WorkflowEnvironment, tq: str) -> None:
    plan = Plan(steps=["car", "hotel", "flight", "train"], fail_at="train")
    wid, err = await run_plan(time_skipping_env, tq, plan)
    # The original failure is what the workflow reports.
    assert root(err).type == "PermanentFailure"
    assert "train is sold out" in root(err).message
    # The train's undo was registered before the train step, which acted then failed: it runs.
    assert CALLS[wid] == [
        "do:car", "do:hotel", "do:flight", "do:train",
        "undo:train", "undo:flight", "undo:hotel", "undo:car",
    ]  # fmt: skip


async def test_invalid_input_fails_fast_transient_is_retried(
    time_skipping_env: WorkflowEnvironment,
    tq: str,
) -> None:
    wid, err = await run_plan(
        time_skipping_env, tq, Plan(steps=["a", "b"], fail_at="b", fail_kind="invalid")
    )
    assert root(err).type == "InvalidInput" and root(err).non_retryable
    assert ATTEMPTS[f"{wid}:b"] == 1
    assert CALLS[wid][-2:] == ["undo:b", "undo:a"]

    wid, err = await run_plan(
        time_skipping_env, tq, Plan(steps=["a", "b"], fail_at="b", fail_kind="transient")
    )
    assert err is None
    assert ATTEMPTS[f"{wid}:b"] == 3
    assert not any(c.startswith("undo") for c in CALLS[wid])


async def test_parallel_compensation_runs_undos_concurrently(
    time_skipping_env: WorkflowEnvironment,
    tq: str,
) -> None:
    # Each undo blocks until all three have started, so only concurrent undos can finish.
    plan = Plan(steps=["a", "b", "c"], fail_at="c", parallel=True)
    wid, err = await run_plan(time_skipping_env, tq, plan)
    assert root(err).type == "PermanentFailure"
    assert sorted(c for c in CALLS[wid] if c.startswith("undo")) == ["undo:a", "undo:b", "undo:c"]
    handle = time_skipping_env.client.get_workflow_handle(wid)
    progress = await saga_progress(handle)
    assert progress.status == "compensated"
    # Scheduled newest first even in parallel mode.
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in (await handle.fetch_history()).events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled == ["do_step"] * 3 + ["undo_step"] * 3
    inputs = [
        e.activity_task_scheduled_event_attributes.input.payloads[0].data
        for e in (await handle.fetch_history()).events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert inputs[3:] == [b'"c"', b'"b"', b'"a"']


async def test_sequential_stops_at_first_failed_undo(
    time_skipping_env: WorkflowEnvironment,
    tq: str,
) -> None:
    plan = Plan(steps=["a", "b", "c"], fail_at="c", fail_undos=["b"])
    wid, err = await run_plan(time_skipping_env, tq, plan)
    failure = root(err)
    assert failure.type == "CompensationFailed"
    assert "PermanentFailure: c is sold out" in failure.message
    assert "undo_step: PermanentFailure: cannot undo b" in failure.message
    assert [c for c in CALLS[wid] if c.startswith("undo")] == ["undo:c", "undo:b"]
    progress = await saga_progress(time_skipping_env.client.get_workflow_handle(wid))
    assert [c.state for c in progress.compensations] == ["skipped", "failed", "done"]
    assert progress.status == "compensation_failed"


async def test_continue_on_error_runs_every_undo_and_lists_failures(
    time_skipping_env: WorkflowEnvironment,
    tq: str,
) -> None:
    plan = Plan(steps=["a", "b", "c"], fail_at="c", fail_undos=["c", "a"], continue_on_error=True)
    wid, err = await run_plan(time_skipping_env, tq, plan)
    failure = root(err)
    assert failure.type == "CompensationFailed"
    assert "2 compensation(s) failed" in failure.message
    assert "cannot undo c" in failure.message and "cannot undo a" in failure.message
    listed = failure.details[0]
    assert [f["message"] for f in listed] == ["cannot undo c", "cannot undo a"]
    assert [c for c in CALLS[wid] if c.startswith("undo")] == ["undo:c", "undo:b", "undo:a"]
    # The original step failure stays attached as the cause.
    assert root(failure.cause).message == "c is sold out"


async def test_cancelled_workflow_still_compensates(
    time_skipping_env: WorkflowEnvironment, tq: str
) -> None:
    client = time_skipping_env.client
    plan = Plan(steps=["a", "b"], block_after_steps=True)
    wid = f"saga-cancel-{uuid.uuid4()}"
    handle = await client.start_workflow(PlannedSaga.run, plan, id=wid, task_queue=tq)
    # Both steps done and the saga waiting: visible through the query.
    await handle.execute_update(PlannedSaga.wait_for_steps, 2)
    progress = await saga_progress(handle)
    assert progress.status == "running"
    assert progress.steps_done == ["do_step", "do_step"]
    assert [c.state for c in progress.compensations] == ["pending", "pending"]
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert isinstance(info.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert CALLS[wid] == ["do:a", "do:b", "undo:b", "undo:a"]
    assert (await saga_progress(handle)).status == "compensated"


async def test_explicit_compensate_with_plain_function_undo(
    time_skipping_env: WorkflowEnvironment,
    tq: str,
) -> None:
    client = time_skipping_env.client
    wid = f"saga-manual-{uuid.uuid4()}"
    local = await client.execute_workflow(ManualSaga.run, id=wid, task_queue=tq)
    assert local == ["local-before-a"]
    assert CALLS[wid][-2:] == ["undo:b", "undo:a"]
    progress = await saga_progress(client.get_workflow_handle(wid), "manual")
    assert [c.name for c in progress.compensations] == ["list.append", "undo_step", "undo_step"]
    assert [c.state for c in progress.compensations] == ["done", "done", "done"]


async def test_misuse_raises_clear_errors(time_skipping_env: WorkflowEnvironment, tq: str) -> None:
    client = time_skipping_env.client
    messages = await client.execute_workflow(
        MisusedSaga.run, id=f"saga-misuse-{uuid.uuid4()}", task_queue=tq
    )
    assert "got 42 of type int" in messages[0]
    assert "unknown activity option(s) start_to_close" in messages[1]
    assert "not an activity" in messages[2]
    assert "a saga named 'misuse' already exists" in messages[3]
    assert "step expects an activity" in messages[4]
    assert len(messages) == 5


def test_saga_outside_a_workflow() -> None:
    with pytest.raises(SagaError, match="only be used in workflow code"):
        Saga()


async def test_cancel_during_a_step_undoes_it_only_after_it_landed(
    time_skipping_env: WorkflowEnvironment, tq: str
) -> None:
    """The step never heartbeats, so it cannot hear the cancel: the saga must wait for it to
    land (or fail) before its undo runs, and the workflow must still end cancelled."""
    client = time_skipping_env.client
    wid = f"saga-slow-{uuid.uuid4()}"
    handle = await client.start_workflow(SlowStepSaga.run, "charge", id=wid, task_queue=tq)
    await STEP_STARTED[wid].wait()
    await handle.cancel()

    async def cancel_processed() -> list[str] | None:
        # The workflow has reacted to the cancel: it asked the step to stop. Whatever it
        # scheduled in that same workflow task is in the history now.
        events = (await handle.fetch_history()).events
        if not any(e.HasField("activity_task_cancel_requested_event_attributes") for e in events):
            return None
        return [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]

    scheduled = await eventually(cancel_processed, what="the cancel reaching the workflow")
    assert scheduled == ["land_late"], "the undo was scheduled while its step was in flight"
    STEP_GATE[wid].set()  # the step lands, late
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert isinstance(info.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert CALLS[wid] == ["do:charge", "undo:charge"]
