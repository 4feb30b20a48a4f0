"""A deterministic workflow that runs outside the SDK's sandbox."""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(sandboxed=False)
class CleanUnsandboxed:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"hello {name} at {workflow.now().year}"
