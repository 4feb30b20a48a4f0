"""Workflows and activities the benchmarks run; a small module so the sandbox loads it fast."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


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
