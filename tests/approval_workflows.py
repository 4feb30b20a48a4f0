"""A workflow that asks for approval, for the approval tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

from agenthub.patterns.approvals import ApprovalDecision, request_approval


@dataclass
class Ask:
    summary: str
    approvers: list[str]
    timeout_seconds: float = 3600


@workflow.defn
class NeedsApproval:
    @workflow.run
    async def run(self, ask: Ask) -> ApprovalDecision:
        return await request_approval(
            ask.summary, approvers=ask.approvers, timeout=timedelta(seconds=ask.timeout_seconds)
        )
