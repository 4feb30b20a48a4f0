"""Sagas whose steps are local activities (``local_steps=True``); undos stay activities."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from agenthub.errors import PermanentFailure, SagaError
from agenthub.patterns.saga import Saga

CALLS: dict[str, list[str]] = defaultdict(list)
STEP_STARTED: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
STEP_GATE: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
FAST = RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=3)


@dataclass
class LocalPlan:
    steps: list[str]
    fail_at: str | None = None
    slow: str | None = None
    """A step that waits for the test's gate (cancel it meanwhile)."""


def _wid() -> str:
    return activity.info().workflow_id or "?"


@activity.defn
async def local_step(name: str, plan: LocalPlan) -> str:
    wid = _wid()
    if name == plan.slow:
        STEP_STARTED[wid].set()
        try:
            await asyncio.wait_for(STEP_GATE[wid].wait(), timeout=60)
        except asyncio.CancelledError:
            CALLS[wid].append(f"stopped:{name}")  # a local activity hears the cancel at once
            raise
    CALLS[wid].append(f"do:{name}")
    if name == plan.fail_at:
        raise PermanentFailure(f"{name} is sold out")
    return f"{name} ok"


@activity.defn
async def remote_undo(name: str, plan: LocalPlan) -> None:
    CALLS[_wid()].append(f"undo:{name}")


@workflow.defn
class LocalStepSaga:
    @workflow.run
    async def run(self, plan: LocalPlan) -> list[str]:
        done = []
        async with Saga(local_steps=True, step_retry_policy=FAST) as saga:
            for name in plan.steps:
                done.append(await saga.step(local_step, name, plan, compensation=remote_undo))
        return done


@workflow.defn
class MixedSaga:
    """One step local, one not, chosen per step."""

    @workflow.run
    async def run(self, plan: LocalPlan) -> list[str]:
        async with Saga() as saga:
            first = await saga.step(local_step, plan.steps[0], plan, local=True)
            second = await saga.step(local_step, plan.steps[1], plan)
        return [first, second]


@workflow.defn
class HeartbeatingLocalSaga:
    """Returns the refusal's message (a SagaError is a bug in workflow code: uncaught, it
    would fail the workflow task, not the workflow)."""

    @workflow.run
    async def run(self, plan: LocalPlan) -> str:
        try:
            async with Saga(local_steps=True) as saga:
                await saga.step(
                    local_step, plan.steps[0], plan, heartbeat_timeout=timedelta(seconds=5)
                )
        except SagaError as err:
            return str(err)
        return "accepted"
