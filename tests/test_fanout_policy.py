"""Failure policies hold over the whole fan-out, at every depth, and report real items.

Each case is checked against a flat reference computed in memory: the fan-out fails exactly
when the failures pass the whole fan-out's limit; on success the counts and the value are
exact; on failure the first reported item really failed and every item is accounted for as
succeeded, failed, cancelled in flight or not run.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from agenthub.testing import running_worker

from .fanout_policy_workflows import BAD, PolicyFanOut, PolicySpec, fail_if_bad


@pytest.fixture(scope="module")
async def policy_queue(dev_server_env: WorkflowEnvironment) -> AsyncIterator[str]:
    async with running_worker(
        dev_server_env.client, workflows=[PolicyFanOut], activities=[fail_if_bad]
    ) as tq:
        yield tq


async def outcome(client: Client, tq: str, spec: PolicySpec) -> dict[str, Any]:
    """The fan-out's result or its failure summary, as one dict."""
    wid = f"policy-{uuid.uuid4().hex[:10]}"
    BAD[wid] = frozenset(spec.bad)
    try:
        result = await client.execute_workflow(PolicyFanOut.run, spec, id=wid, task_queue=tq)
    except WorkflowFailureError as err:
        cause = err.cause
        assert isinstance(cause, ApplicationError) and cause.type == "FanOutFailed", err
        summary: dict[str, Any] = cause.details[0]
        return {"ok": False, "message": cause.message, **summary}
    return {
        "ok": True, "value": result.value, "succeeded": result.succeeded,
        "failed": result.failed, "failures": [f.index for f in result.failures],
    }  # fmt: skip


def limit_of(spec: PolicySpec) -> int:
    if spec.policy == "fail_fast":
        return 0
    if spec.policy == "collect":
        return spec.count
    limits = [spec.max_failures] if spec.max_failures is not None else []
    if spec.max_ratio is not None:
        limits.append(math.floor(spec.max_ratio * spec.count))
    return min(limits) if limits else spec.count


def check_against_flat_reference(spec: PolicySpec, got: dict[str, Any]) -> None:
    bad = set(spec.bad)
    if len(bad) <= limit_of(spec):
        assert got["ok"], (
            got.get("message"),
            [f for f in got["failures"] if f["index"] not in bad],
        )
        assert got["failed"] == len(bad) and got["succeeded"] == spec.count - len(bad)
        assert got["value"] == sum(i for i in range(spec.count) if i not in bad)
        assert got["failures"] == sorted(bad)[:100]
        return
    assert not got["ok"], f"{len(bad)} failures passed a limit of {limit_of(spec)}"
    listed = [f["index"] for f in got["failures"]]
    strangers = [f for f in got["failures"] if f["index"] not in bad]
    assert listed and not strangers, f"only failed items are reported failed: {strangers}"
    assert f"first: item {min(listed)}:" in got["message"]
    assert limit_of(spec) < got["failed"] <= len(bad)
    accounted = got["succeeded"] + got["failed"] + got["cancelled"] + got["not_run"]
    assert accounted == spec.count, got


async def test_tolerance_counts_the_whole_fan_out_not_each_batch(
    dev_server_env: WorkflowEnvironment, policy_queue: str
) -> None:
    # 30 clustered failures in the first batch of 500, against 2% of 2,000 = 40 allowed.
    spec = PolicySpec(
        2000, 500, "tolerate", max_ratio=0.02, max_concurrency=100, bad=list(range(30))
    )
    got = await outcome(dev_server_env.client, policy_queue, spec)
    check_against_flat_reference(spec, got)
    assert got["ok"] and got["failed"] == 30
    # 41 of them: one past the limit, all in one batch: the fan-out fails.
    spec.bad = list(range(41))
    got = await outcome(dev_server_env.client, policy_queue, spec)
    check_against_flat_reference(spec, got)


async def test_fail_fast_names_the_real_item_and_counts_apart(
    dev_server_env: WorkflowEnvironment, policy_queue: str
) -> None:
    spec = PolicySpec(2000, 500, "fail_fast", max_concurrency=50, bad=[1234])
    got = await outcome(dev_server_env.client, policy_queue, spec)
    check_against_flat_reference(spec, got)
    assert got["failed"] == 1 and [f["index"] for f in got["failures"]] == [1234]
    assert "first: item 1234: PermanentFailure: item 1234 is bad" in got["message"]


def failure_sets(count: int) -> st.SearchStrategy[list[int]]:
    spread = st.lists(st.integers(0, count - 1), unique=True, max_size=count)
    clustered = st.integers(0, count - 1).flatmap(
        lambda lo: st.integers(lo, count).map(lambda hi: list(range(lo, hi)))
    )
    return st.one_of(spread, clustered)


@st.composite
def specs(draw: st.DrawFn) -> PolicySpec:
    count = draw(st.integers(1, 90))
    policy = draw(st.sampled_from(["collect", "fail_fast", "tolerate", "tolerate"]))
    spec = PolicySpec(
        count=count,
        batch_size=draw(st.integers(3, 12)),  # depths 1 to 4
        policy=policy,
        max_concurrency=draw(st.integers(1, 8)),
        bad=draw(failure_sets(count)),
    )
    if policy == "tolerate":
        spec.max_failures = draw(st.none() | st.integers(0, count))
        spec.max_ratio = draw(st.none() | st.floats(0, 1))
    return spec


@settings(
    max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(spec=specs())
async def test_policies_match_a_flat_reference(
    dev_server_env: WorkflowEnvironment, policy_queue: str, spec: PolicySpec
) -> None:
    got = await outcome(dev_server_env.client, policy_queue, spec)
    check_against_flat_reference(spec, got)
