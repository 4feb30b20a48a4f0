"""Workflows and activities for the saga tests (kept small: the sandbox imports it per run)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from agenthub.errors import InvalidInput, PermanentFailure, SagaError, TransientFailure
from agenthub.patterns.saga import Saga

# What activities did, per workflow id (activities run in the test process, outside the sandbox).
CALLS: dict[str, list[str]] = defaultdict(list)
ATTEMPTS: dict[str, int] = defaultdict(int)
STARTED_UNDOS: dict[str, set[str]] = defaultdict(set)
UNDO_CONDITIONS: dict[str, asyncio.Condition] = defaultdict(asyncio.Condition)

FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=5)


@dataclass
class Plan:
    """steps: names to run; fail_at: the step that raises; fail_undos: undos that raise."""

    steps: list[str]
    fail_at: str | None = None
    fail_kind: str = "permanent"
    fail_undos: list[str] = field(default_factory=list)
    parallel: bool = False
    continue_on_error: bool = False
    block_after_steps: bool = False


def _wid() -> str:
    return activity.info().workflow_id or "?"


@activity.defn
async def do_step(name: str, plan: Plan) -> str:
    wid = _wid()
    ATTEMPTS[f"{wid}:{name}"] += 1
    CALLS[wid].append(f"do:{name}")  # the effect happens, then maybe the failure
    if name == plan.fail_at:
        if plan.fail_kind == "invalid":
            raise InvalidInput(f"{name} got bad input")
        if plan.fail_kind == "transient":
            if ATTEMPTS[f"{wid}:{name}"] < 3:
                raise TransientFailure(f"{name} hiccup")
            return f"{name} ok after retries"
        raise PermanentFailure(f"{name} is sold out")
    return f"{name} ok"


@activity.defn
async def undo_step(name: str, plan: Plan) -> None:
    wid = _wid()
    CALLS[wid].append(f"undo:{name}")
    if plan.parallel:
        # Each undo waits until every undo has started: only concurrent undos get through.
        started, condition = STARTED_UNDOS[wid], UNDO_CONDITIONS[wid]
        async with condition:
            started.add(name)
            condition.notify_all()
            await asyncio.wait_for(
                condition.wait_for(lambda: len(started) >= len(plan.steps)), timeout=10
            )
    if name in plan.fail_undos:
        raise PermanentFailure(f"cannot undo {name}")


@workflow.defn
class PlannedSaga:
    def __init__(self) -> None:
        self.release = False
        self.results: list[str] = []

    @workflow.signal
    def go(self) -> None:
        self.release = True

    @workflow.update
    async def wait_for_steps(self, count: int) -> None:
        """Returns once ``count`` steps are done, so tests wait on state without polling."""
        await workflow.wait_condition(lambda: len(self.results) >= count)

    @workflow.run
    async def run(self, plan: Plan) -> list[str]:
        results = self.results
        async with Saga(
            parallel_compensation=plan.parallel,
            continue_on_error=plan.continue_on_error,
            step_retry_policy=FAST_RETRY,
            compensation_retry_policy=FAST_RETRY,
        ) as saga:
            for name in plan.steps:
                results.append(await saga.step(do_step, name, plan, compensation=undo_step))
            if plan.block_after_steps:
                await workflow.wait_condition(lambda: self.release)
        return results


@workflow.defn
class ManualSaga:
    """add_compensation + explicit compensate(), with a plain-function undo."""

    def __init__(self) -> None:
        self.local_undos: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        saga = Saga("manual")
        plan = Plan(steps=["a", "b"], fail_at="b")
        saga.add_compensation(self.local_undos.append, "local-before-a")
        saga.add_compensation(undo_step, "a", plan, start_to_close_timeout=timedelta(seconds=5))
        await workflow.execute_activity(
            do_step, args=["a", plan], start_to_close_timeout=timedelta(seconds=5)
        )
        saga.add_compensation(undo_step, "b", plan)
        try:
            await workflow.execute_activity(
                do_step, args=["b", plan], start_to_close_timeout=timedelta(seconds=5),
                retry_policy=FAST_RETRY,
            )  # fmt: skip
        except Exception:
            await saga.compensate()
        return self.local_undos


@workflow.defn
class MisusedSaga:
    """Each misuse must raise SagaError naming the mistake, before anything runs."""

    @workflow.run
    async def run(self) -> list[str]:
        messages = []
        saga = Saga("misuse")
        for bad in (
            lambda: saga.add_compensation(42),  # type: ignore[arg-type]
            lambda: saga.add_compensation(undo_step, "x", start_to_close=5),
            lambda: saga.add_compensation(print, "x", retry_policy=FAST_RETRY),
            lambda: Saga("misuse"),
        ):
            try:
                bad()
            except SagaError as err:
                messages.append(str(err))
        try:
            await saga.step(print, "x")  # type: ignore[arg-type]
        except SagaError as err:
            messages.append(str(err))
        return messages


# A step that takes time to land and never heartbeats (so it never hears of a cancel).
STEP_STARTED: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
STEP_GATE: dict[str, asyncio.Event] = defaultdict(asyncio.Event)


@activity.defn
async def land_late(name: str) -> str:
    wid = _wid()
    STEP_STARTED[wid].set()
    await asyncio.wait_for(STEP_GATE[wid].wait(), timeout=60)
    CALLS[wid].append(f"do:{name}")
    return f"{name} landed"


@activity.defn
async def undo_late(name: str) -> None:
    CALLS[_wid()].append(f"undo:{name}")


@workflow.defn
class SlowStepSaga:
    @workflow.run
    async def run(self, name: str) -> str:
        async with Saga(step_timeout=timedelta(minutes=5)) as saga:
            return await saga.step(land_late, name, compensation=undo_late)
