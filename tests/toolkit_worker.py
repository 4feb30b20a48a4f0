"""Worker for the crash tests (toolkit, fan-out): ``python -m tests.toolkit_worker ADDR TQ DIR``.

First attempts announce themselves on stdout and hang at the crash point; the test SIGKILLs
the process there and starts another one, whose attempts run through.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from agenthub.patterns.fanout import CollectErrors, FanOutResult, ItemRange, Reduce, fan_out
from agenthub.patterns.heartbeat import Heartbeat
from agenthub.patterns.idempotency import activity_idempotency_key
from agenthub.patterns.ledger import SqliteLedger

DIR = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(".")
RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5)


async def _hang(marker: str) -> None:
    print(marker, flush=True)
    await asyncio.Event().wait()  # the test SIGKILLs this process now


@activity.defn
async def effect_then_crash(n: int) -> int:
    ledger = SqliteLedger(DIR / "ledger.db")
    info = activity.info()

    def effect(conn) -> int:
        conn.execute("CREATE TABLE IF NOT EXISTS effects (n INT, attempt INT)")
        conn.execute("INSERT INTO effects VALUES (?, ?)", (n, info.attempt))
        return n * n

    result = await ledger.run_once(activity_idempotency_key(f"effect-{n}"), effect)
    with open(DIR / "attempts.log", "a") as log:
        log.write(f"{n} {info.attempt}\n")
    if info.attempt == 1:
        await _hang(f"EFFECT_DONE {n}")
    return result


@workflow.defn
class HundredEffects:
    @workflow.run
    async def run(self, count: int) -> int:
        results = await asyncio.gather(
            *(
                workflow.execute_activity(
                    effect_then_crash,
                    n,
                    start_to_close_timeout=timedelta(seconds=3),
                    retry_policy=RETRY,
                )
                for n in range(count)
            )
        )
        return sum(results)


@dataclass
class ItemsProgress:
    done: int = 0
    processed: list[int] = field(default_factory=list)


@activity.defn
async def process_items(total: int) -> list[int]:
    async with Heartbeat() as hb:
        state = hb.resume_from(ItemsProgress, ItemsProgress())
        with open(DIR / "heartbeat.log", "a") as log:
            log.write(f"attempt {hb.attempt} resumes at {state.done}\n")
        for i in range(state.done, total):
            if hb.attempt == 1 and i == total * 6 // 10:
                await _hang(f"AT_PERCENT {100 * i // total}")
            state.processed.append(i)
            state.done = i + 1
            hb.progress(state)
        return state.processed


@workflow.defn
class LongJob:
    @workflow.run
    async def run(self, total: int) -> list[int]:
        return await workflow.execute_activity(
            process_items, total,
            start_to_close_timeout=timedelta(hours=1),  # only the heartbeat timeout can fire
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RETRY,
        )  # fmt: skip


@activity.defn
async def fan_out_effect(n: int) -> int:
    """Records item ``n`` once (idempotency key per item); items >= 25 hang on attempt 1."""
    ledger = SqliteLedger(DIR / "ledger.db")
    info = activity.info()

    def effect(conn) -> int:
        conn.execute("CREATE TABLE IF NOT EXISTS items (n INT, attempt INT)")
        conn.execute("INSERT INTO items VALUES (?, ?)", (n, info.attempt))
        return n

    # The key is the root fan-out's id plus the item: the same on every retry and worker.
    root = (info.workflow_id or "").split("/")[0]
    result = await ledger.run_once(f"{root}/item-{n}", effect)
    if info.attempt == 1 and n >= 25:
        await _hang(f"ITEM_HUNG {n}")
    return result


@workflow.defn
class CrashedFanOut:
    @workflow.run
    async def run(self, count: int) -> FanOutResult:
        return await fan_out(
            fan_out_effect, ItemRange(0, count),
            max_concurrency=5, batch_size=10, reduce=Reduce("sum"), failures=CollectErrors(),
            start_to_close_timeout=timedelta(seconds=3), retry_policy=RETRY,
        )  # fmt: skip


async def main() -> None:
    from temporalio.client import Client

    from agenthub.runtime.worker import build_worker

    client = await Client.connect(sys.argv[1])
    worker = build_worker(
        client,
        task_queue=sys.argv[2],
        workflows=[HundredEffects, LongJob, CrashedFanOut],
        activities=[effect_then_crash, process_items, fan_out_effect],
        max_concurrent_activities=200,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
