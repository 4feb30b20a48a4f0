"""A workflow outside the sandbox whose module passes `agenthub lint`, but which reads the
clock through a helper: only a replay in the sandbox finds it."""

from __future__ import annotations

from temporalio import workflow

from tests.clock_helper import stamp


@workflow.defn(sandboxed=False)
class HiddenClockUnsandboxed:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"hello {name}, stamped {stamp()}"
