"""Messages per second into one entity: agenthub's Entity vs a hand-written signal loop.

Both receive the same signals from 32 concurrent senders; the clock stops when the workflow
has applied them all. agenthub's entity also serializes, deduplicates (each message has an
id) and continues as new every ~3,200 events; the baseline does none of that.

    .venv/bin/python -m benchmarks.entity_throughput --messages 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from temporalio.client import Client

from agenthub.patterns.entity import EntityClient
from agenthub.testing import running_worker
from benchmarks._common import client_for, embedded_server, summarize
from benchmarks.workloads import Add, CounterEntity, HandCounter

SENDERS = 32


async def send_all(send, count: int) -> None:
    limit = asyncio.Semaphore(SENDERS)

    async def one(i: int) -> None:
        async with limit:
            await send(Add(1, f"m-{i}"))

    await asyncio.gather(*(one(i) for i in range(count)))


async def hand_written(client: Client, tq: str, count: int) -> float:
    handle = await client.start_workflow(HandCounter.run, id=f"hand-{uuid.uuid4()}", task_queue=tq)
    began = time.perf_counter()
    await send_all(lambda msg: handle.signal(HandCounter.add, msg), count)
    await handle.execute_update(HandCounter.wait_total, count)
    rate = count / (time.perf_counter() - began)
    await handle.terminate()
    return rate


async def with_agenthub(client: Client, tq: str, count: int) -> tuple[float, int]:
    entities = EntityClient(client, CounterEntity, task_queue=tq)
    entity = f"counter-{uuid.uuid4().hex[:8]}"
    began = time.perf_counter()
    await send_all(lambda msg: entities.signal(entity, CounterEntity.add, msg), count)
    await entities.update(entity, CounterEntity.wait_total, count)
    rate = count / (time.perf_counter() - began)
    runs = await entities.query(entity, CounterEntity.runs)
    await entities.handle(entity).terminate()
    return rate, runs


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    hand: list[float] = []
    ours: list[float] = []
    runs: list[int] = []
    async with embedded_server() as address:
        client = await client_for(address)
        async with running_worker(client, workflows=[HandCounter, CounterEntity]) as tq:
            await hand_written(client, tq, 200)  # warm-up
            await with_agenthub(client, tq, 200)
            for _ in range(args.rounds):
                hand.append(await hand_written(client, tq, args.messages))
                rate, n = await with_agenthub(client, tq, args.messages)
                ours.append(rate)
                runs.append(n)
    print(f"{args.messages} messages into one workflow, {SENDERS} senders, messages/s:")
    h = summarize("hand-written signal loop", hand)
    o = summarize("agenthub Entity (signals)", ours)
    print(f"continue-as-new runs per agenthub round: {runs}")
    print(f"ratio agenthub/hand-written (median): {o / h:.2f}  (target >= 0.9)")


if __name__ == "__main__":
    asyncio.run(main())
