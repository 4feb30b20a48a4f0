"""Workflows and activities of ``test_heartbeat_payloads.py``, in a module of their own: the
sandbox imports a workflow's module for every run, and a test module is a heavy one."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from agenthub.patterns.heartbeat import Heartbeat

QUIET_STEP = asyncio.Event()
CANCEL_SEEN: dict[str, asyncio.Event] = {}
STARTED: dict[str, asyncio.Event] = {}


@activity.defn
async def quiet_then_done(wait_seconds: float) -> int:
    """Reports no progress for longer than its heartbeat timeout; the background beats
    keep it alive."""
    async with Heartbeat():
        with contextlib.suppress(asyncio.TimeoutError):  # the quiet stretch is over
            await asyncio.wait_for(QUIET_STEP.wait(), timeout=wait_seconds)
    return activity.info().attempt


@activity.defn
async def wait_until_cancelled() -> None:
    wid = activity.info().workflow_id or ""
    async with Heartbeat():
        STARTED[wid].set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            CANCEL_SEEN[wid].set()
            raise


@workflow.defn
class HeartbeatJobs:
    @workflow.run
    async def run(self, kind: str) -> int:
        if kind == "quiet":
            return await workflow.execute_activity(
                quiet_then_done, 3.0,
                start_to_close_timeout=timedelta(minutes=1),
                heartbeat_timeout=timedelta(seconds=1),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )  # fmt: skip
        await workflow.execute_activity(
            wait_until_cancelled,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(seconds=2),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return 0


FIVE_MB = 5 * 1024 * 1024


@dataclass
class Report:
    title: str
    body: str


@activity.defn
async def big_report(size: int) -> Report:
    return Report(title="weekly", body="x" * size)


@workflow.defn
class ReportJob:
    @workflow.run
    async def run(self, size: int) -> tuple[int, str, Report]:
        report = await workflow.execute_activity(
            big_report, size, start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )  # fmt: skip
        digest = hashlib.sha256(report.body.encode()).hexdigest()
        return len(report.body), digest, report


@activity.defn
async def join_parts(a: str, b: str, c: str) -> int:
    return len(a) + len(b) + len(c)


@workflow.defn
class JoinParts:
    @workflow.run
    async def run(self, part: int) -> int:
        text = "x" * part
        return await workflow.execute_activity(
            join_parts, args=[text, text, text], start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn
class Echo:
    @workflow.run
    async def run(self, text: str) -> str:
        return text
