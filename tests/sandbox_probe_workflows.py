"""A sandboxed workflow that reports what the sandbox still does under agenthub's runner."""

from __future__ import annotations

import datetime

from temporalio import workflow

RUNS: list[str] = []
"""Module state: the sandbox imports this module afresh for every run, so each run sees
only itself here."""


@workflow.defn
class SandboxProbe:
    @workflow.run
    async def run(self) -> list[str]:
        RUNS.append(workflow.info().workflow_id)
        seen = [f"runs seen by this import: {len(RUNS)}"]
        try:
            datetime.datetime.now()
            seen.append("read the clock")
        except Exception as err:  # the sandbox refuses the call
            seen.append(type(err).__name__)
        return seen
