"""Messages per second into one entity: agenthub's Entity vs a hand-written signal loop.

All receive the same signals from 32 concurrent senders; the clock stops when the workflow
has applied them all. agenthub's entity serializes, deduplicates (each message has an id) and
continues as new at 1,600 events. Two baselines: the hand-written loop with the usual
hand-written continue-as-new at the same history length (the like-for-like comparison: a
long-lived loop must continue as new), and the same loop that never continues.

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


async def hand_written(client: Client, tq: str, count: int, can_at: int) -> tuple[float, int]:
    handle = await client.start_workflow(
        HandCounter.run, args=[can_at], id=f"hand-{uuid.uuid4()}", task_queue=tq
    )
    began = time.perf_counter()
    await send_all(lambda msg: handle.signal(HandCounter.add, msg), count)
    await handle.execute_update(HandCounter.wait_total, count)
    rate = count / (time.perf_counter() - began)
    runs = await handle.query(HandCounter.runs)
    await handle.terminate()
    return rate, runs


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
    plain: list[float] = []
    hand: list[float] = []
    ours: list[float] = []
    runs: list[int] = []
    hand_runs: list[int] = []
    cfg = CounterEntity.config
    can_at = int(cfg.max_history_events * cfg.drain_at)
    async with embedded_server() as address:
        client = await client_for(address)
        async with running_worker(client, workflows=[HandCounter, CounterEntity]) as tq:
            await hand_written(client, tq, 200, 0)  # warm-up
            await with_agenthub(client, tq, 200)
            for _ in range(args.rounds):
                plain.append((await hand_written(client, tq, args.messages, 0))[0])
                rate, n = await hand_written(client, tq, args.messages, can_at)
                hand.append(rate)
                hand_runs.append(n)
                rate, n = await with_agenthub(client, tq, args.messages)
                ours.append(rate)
                runs.append(n)
    print(f"{args.messages} messages into one workflow, {SENDERS} senders, messages/s:")
    p = summarize("hand-written, never continues", plain)
    h = summarize(f"hand-written, CAN at {can_at} ev", hand)
    o = summarize("agenthub Entity (signals)", ours)
    print(f"runs per round: hand-written with CAN {hand_runs}, agenthub {runs}")
    print(f"ratio agenthub/hand-written with the same CAN (median): {o / h:.2f}  (target >= 0.9)")
    print(f"ratio agenthub/hand-written that never continues (median): {o / p:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
