"""Activities killed mid-flight on the real dev server: effects once, progress resumed,
a hierarchical fan-out finished by the next worker."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TimeoutType
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from agenthub.patterns.fanout import FanOutResult, fan_out_progress
from agenthub.testing import eventually

from .procs import read_lines, worker_process


async def heartbeat_done(handle: WorkflowHandle) -> bool:
    pending = (await handle.describe()).raw_description.pending_activities
    if not pending or not pending[0].heartbeat_details.payloads:
        return False
    details = await DataConverter.default.decode(pending[0].heartbeat_details.payloads)
    return bool(details[0]["done"] == 6)


@dataclass
class CrashSetup:
    client: Client
    tq: str
    args: tuple[str, ...]
    """``worker_process`` arguments: the crash worker on this server, task queue and dir."""


@pytest.fixture
def crash(dev_server_env: WorkflowEnvironment, tmp_path: Path) -> CrashSetup:
    client = dev_server_env.client
    tq = f"crash-{uuid.uuid4().hex[:8]}"
    address = client.service_client.config.target_host
    return CrashSetup(client, tq, ("tests.toolkit_worker", address, tq, str(tmp_path)))


async def test_effect_then_crash_happens_once_for_100_activities(
    crash: CrashSetup, tmp_path: Path
) -> None:
    client, tq, args = crash.client, crash.tq, crash.args
    async with worker_process(*args) as first:
        handle = await client.start_workflow(
            "HundredEffects", 100, id=f"effects-{uuid.uuid4()}", task_queue=tq
        )
        # All 100 did their effect and committed it, none has completed: kill the worker.
        await read_lines(first, "EFFECT_DONE", 100)
        first.kill()
    async with worker_process(*args):
        assert await handle.result() == sum(n * n for n in range(100))

    db = sqlite3.connect(tmp_path / "ledger.db")
    per_item = dict(db.execute("SELECT n, count(*) FROM effects GROUP BY n").fetchall())
    assert per_item == {n: 1 for n in range(100)}, "every effect exactly once"
    attempts = (tmp_path / "attempts.log").read_text().split("\n")
    retried = {line.split()[0] for line in attempts if line.endswith(" 2")}
    assert retried == {str(n) for n in range(100)}, "each activity really ran twice"


async def test_heartbeating_activity_resumes_where_it_was_killed(
    crash: CrashSetup, tmp_path: Path
) -> None:
    client, tq, args = crash.client, crash.tq, crash.args
    async with worker_process(*args) as first:
        handle = await client.start_workflow(
            "LongJob", 10, id=f"long-{uuid.uuid4()}", task_queue=tq
        )
        assert await read_lines(first, "AT_PERCENT", 1) == ["AT_PERCENT 60"]
        # The SDK throttles heartbeats; kill once the 60% mark has reached the server.
        await eventually(lambda: heartbeat_done(handle), what="heartbeat at 60%")
        first.kill()
    async with worker_process(*args):
        processed = await handle.result()
    assert processed == list(range(10)), "the retry carried items 0-5 over and did 6-9"
    log = (tmp_path / "heartbeat.log").read_text().splitlines()
    assert log == ["attempt 1 resumes at 0", "attempt 2 resumes at 6"]
    # The start-to-close timeout is an hour: only the 2 s heartbeat timeout detected the kill.
    started = [
        e.activity_task_started_event_attributes
        for e in (await handle.fetch_history()).events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert started[-1].attempt == 2
    assert started[-1].last_failure.timeout_failure_info.timeout_type == (
        TimeoutType.TIMEOUT_TYPE_HEARTBEAT
    )


async def test_fan_out_survives_a_killed_worker(crash: CrashSetup, tmp_path: Path) -> None:
    client, tq, args = crash.client, crash.tq, crash.args
    wid = f"crashed-fan-{uuid.uuid4().hex[:8]}"
    async with worker_process(*args) as first:
        handle = await client.start_workflow(
            "CrashedFanOut", 60, id=wid, task_queue=tq, result_type=FanOutResult
        )
        # Children of items 20-29 and 30-39 are in flight, 5 items each hung after their
        # effect (items 0-24 are done): kill the worker with 4 children open.
        await read_lines(first, "ITEM_HUNG", 10)
        first.kill()
    async with worker_process(*args):
        result = await handle.result()
        assert (result.value, result.succeeded, result.failed) == (sum(range(60)), 60, 0)
        progress = await fan_out_progress(client, wid)
        assert (progress.done, progress.total, progress.running_children) == (60, 60, [])

    db = sqlite3.connect(tmp_path / "ledger.db")
    per_item = dict(db.execute("SELECT n, count(*) FROM items GROUP BY n").fetchall())
    assert per_item == {n: 1 for n in range(60)}, "every item's effect exactly once"
