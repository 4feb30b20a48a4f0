"""Workflows and activities the benchmarks run; a small module so the sandbox loads it fast."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from agenthub.patterns.saga import Saga


@activity.defn
async def touch(i: str) -> str:
    return i


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, i: str) -> str:
        return await workflow.execute_activity(
            touch, i, start_to_close_timeout=timedelta(seconds=30)
        )


# --- 3-step saga, with agenthub's Saga and written by hand --------------------------------

_STEP = timedelta(seconds=30)


@activity.defn
async def saga_step(name: str) -> str:
    return name


@activity.defn
async def saga_undo(name: str) -> None:
    return None


@workflow.defn
class ThreeStepSaga:
    @workflow.run
    async def run(self, key: str) -> list[str]:
        done = []
        async with Saga(step_timeout=_STEP) as saga:
            for step in ("reserve", "charge", "ship"):
                done.append(await saga.step(saga_step, f"{key}:{step}", compensation=saga_undo))
        return done


@workflow.defn
class ThreeStepHandWritten:
    """The same saga in plain temporalio: a list of undos and try/except."""

    @workflow.run
    async def run(self, key: str) -> list[str]:
        undos: list[str] = []
        done = []
        try:
            for step in ("reserve", "charge", "ship"):
                undos.append(f"{key}:{step}")
                done.append(
                    await workflow.execute_activity(
                        saga_step, f"{key}:{step}", start_to_close_timeout=_STEP,
                        retry_policy=RetryPolicy(maximum_attempts=10),
                    )
                )  # fmt: skip
        except BaseException:
            for undo in reversed(undos):
                await workflow.execute_activity(
                    saga_undo, undo, start_to_close_timeout=_STEP,
                    retry_policy=RetryPolicy(maximum_attempts=0),
                )  # fmt: skip
            raise
        return done
