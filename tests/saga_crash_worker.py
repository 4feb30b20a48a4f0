"""A worker process for the saga crash test: ``python -m tests.saga_crash_worker ADDR TQ DB``.

Activities write to a SQLite file so effects can be counted across processes. The first
attempt of undo ``b`` acts, announces itself on stdout, then hangs until the test kills us.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from agenthub.errors import PermanentFailure
from agenthub.patterns.saga import Saga

FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=0)
LEDGER = sys.argv[3] if len(sys.argv) > 3 else ":memory:"


def _db() -> sqlite3.Connection:
    db = sqlite3.connect(LEDGER, timeout=10, isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS attempts (wid TEXT, name TEXT, attempt INT)")
    db.execute("CREATE TABLE IF NOT EXISTS effects (wid TEXT, name TEXT)")
    return db


@activity.defn
async def book(name: str) -> None:
    if name == "d":
        raise PermanentFailure("d is sold out")


@activity.defn
async def unbook(name: str) -> None:
    info = activity.info()
    db = _db()
    db.execute("INSERT INTO attempts VALUES (?, ?, ?)", (info.workflow_id, name, info.attempt))
    # The undo is idempotent: check-then-act in one write transaction.
    db.execute("BEGIN IMMEDIATE")
    seen = db.execute(
        "SELECT count(*) FROM effects WHERE wid = ? AND name = ?", (info.workflow_id, name)
    ).fetchone()[0]
    if not seen:
        db.execute("INSERT INTO effects VALUES (?, ?)", (info.workflow_id, name))
    db.execute("COMMIT")
    db.close()
    if name == "b" and info.attempt == 1:
        print(f"UNDO_IN_FLIGHT {name}", flush=True)
        await asyncio.Event().wait()  # hang: the test SIGKILLs this process now


@workflow.defn
class CrashSaga:
    @workflow.run
    async def run(self) -> None:
        async with Saga(
            compensation_timeout=timedelta(seconds=2), compensation_retry_policy=FAST_RETRY
        ) as saga:
            for name in ("a", "b", "c", "d"):
                await saga.step(book, name, compensation=unbook)


async def main() -> None:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from agenthub.runtime.worker import build_worker

    client = await Client.connect(sys.argv[1], data_converter=pydantic_data_converter)
    worker = build_worker(
        client,
        task_queue=sys.argv[2],
        workflows=[CrashSaga],
        activities=[book, unbook],
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
    )
    print("WORKER_READY", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
