"""Two versions of one workflow (the same type name), as a deploy changes its code while
a run waits days for an approval: each answers with its version."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from agenthub.patterns.approvals import request_approval


@workflow.defn(name="agenthub-test.Versioned")
class VersionOne:
    @workflow.run
    async def run(self, what: str) -> str:
        decision = await request_approval(what, approvers=["ana"], timeout=timedelta(days=3))
        return f"v1 {'approved' if decision.approved else 'denied'} {what}"


@workflow.defn(name="agenthub-test.Versioned")
class VersionTwo:
    @workflow.run
    async def run(self, what: str) -> str:
        decision = await request_approval(what, approvers=["ana"], timeout=timedelta(days=3))
        return f"v2 {'approved' if decision.approved else 'denied'} {what}"
