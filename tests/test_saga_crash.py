"""A worker SIGKILLed in the middle of compensation: every undo still runs exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from agenthub.patterns.saga import saga_progress

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


async def spawn_worker(address: str, task_queue: str, ledger: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.saga_crash_worker", address, task_queue, str(ledger),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def wait_for_line(process: asyncio.subprocess.Process, marker: str) -> None:
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        if not line:
            raise AssertionError(f"worker exited before printing {marker!r}")
        if marker in line.decode():
            return


async def test_sigkill_during_compensation(dev_server_env: WorkflowEnvironment, tmp_path: Path):
    client = dev_server_env.client
    address = client.service_client.config.target_host
    ledger = tmp_path / "ledger.db"
    task_queue = f"saga-crash-{uuid.uuid4().hex[:8]}"
    wid = f"crash-{uuid.uuid4()}"

    first = await spawn_worker(address, task_queue, ledger)
    second = None
    try:
        handle = await client.start_workflow("CrashSaga", id=wid, task_queue=task_queue)
        await wait_for_line(first, "UNDO_IN_FLIGHT b")
        first.kill()  # SIGKILL: no cleanup, no activity completion
        await first.wait()

        second = await spawn_worker(address, task_queue, ledger)
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), 60)
        assert "d is sold out" in str(info.value.cause.cause)
        progress = await saga_progress(handle)
        assert progress.status == "compensated"
        assert [c.state for c in progress.compensations] == ["done"] * 4
    finally:
        for process in (first, second):
            if process and process.returncode is None:
                process.kill()
                await process.wait()

    db = sqlite3.connect(ledger)
    attempts = db.execute(
        "SELECT name, count(*) FROM attempts WHERE wid = ? GROUP BY name ORDER BY name", (wid,)
    ).fetchall()
    effects = db.execute(
        "SELECT name, count(*) FROM effects WHERE wid = ? GROUP BY name ORDER BY name", (wid,)
    ).fetchall()
    order = [
        r[0] for r in db.execute("SELECT name FROM attempts WHERE wid = ? ORDER BY rowid", (wid,))
    ]
    # Undos that completed before the kill were not repeated; the one in flight was retried.
    assert attempts == [("a", 1), ("b", 2), ("c", 1), ("d", 1)]
    assert order == ["d", "c", "b", "b", "a"]
    # And every undo's effect happened exactly once.
    assert effects == [("a", 1), ("b", 1), ("c", 1), ("d", 1)]
