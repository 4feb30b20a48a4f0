"""A fan-out whose failing items are chosen by the test, for the policy tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from agenthub.errors import PermanentFailure
from agenthub.patterns.fanout import (
    CollectErrors,
    FailFast,
    FanOutResult,
    ItemRange,
    Reduce,
    Tolerate,
    fan_out,
)

# Failing indexes per root workflow id (activities run in the test process).
BAD: dict[str, frozenset[int]] = {}


@activity.defn
async def fail_if_bad(i: int) -> int:
    root = (activity.info().workflow_id or "").split("/")[0]
    if i in BAD.get(root, frozenset()):
        raise PermanentFailure(f"item {i} is bad")
    return i


@dataclass
class PolicySpec:
    count: int
    batch_size: int
    policy: str = "collect"
    max_failures: int | None = None
    max_ratio: float | None = None
    max_concurrency: int = 8
    bad: list[int] = field(default_factory=list)


@workflow.defn
class PolicyFanOut:
    @workflow.run
    async def run(self, spec: PolicySpec) -> FanOutResult:
        policy = {
            "fail_fast": FailFast(),
            "collect": CollectErrors(),
            "tolerate": Tolerate(max_failures=spec.max_failures, max_ratio=spec.max_ratio),
        }[spec.policy]
        return await fan_out(
            fail_if_bad, ItemRange(0, spec.count), batch_size=spec.batch_size,
            max_concurrency=spec.max_concurrency, max_concurrent_children=3,
            reduce=Reduce("sum"), failures=policy,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )  # fmt: skip
