"""A workflow outside the SDK's sandbox that reads the clock: the linter must stop it."""

from __future__ import annotations

import time

from temporalio import workflow


@workflow.defn(sandboxed=False)
class ClockReadingUnsandboxed:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"hello {name} at {time.time()}"  # differs on replay: the linter finds it
