"""Updates per second into entities: agenthub's Entity (update-with-start, deduplicated by
message id, continue-as-new) vs a hand-written workflow with an update handler that never
continues, in the same run: into one entity, and spread over 100 entities.

The server lets a few updates wait on one workflow at a time, so ``--senders`` (8) send into
one entity at once; across 100 entities, every entity has its own sender.

    .venv/bin/python -m benchmarks.entity_updates --updates 2000 --entities 100 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from temporalio.client import Client, WorkflowHandle

from agenthub.patterns.entity import EntityClient
from agenthub.testing import running_worker
from benchmarks._common import client_for, embedded_server, summarize
from benchmarks.workloads import Add, CounterEntity, HandCounter


async def _send(count: int, senders: int, send: Callable[[int], Awaitable[object]]) -> float:
    gate = asyncio.Semaphore(senders)

    async def one(i: int) -> None:
        async with gate:
            await send(i)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.perf_counter() - began)


async def _hand_counters(client: Client, tq: str, n: int) -> list[WorkflowHandle[object, object]]:
    return [
        await client.start_workflow(
            HandCounter.run, args=[0], id=f"hand-{uuid.uuid4()}", task_queue=tq
        )
        for _ in range(n)
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument("--senders", type=int, default=8, help="into one entity at once")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"hand1": [], "ours1": [], "handN": [], "oursN": []}
    async with embedded_server() as address:
        client = await client_for(address)
        async with running_worker(
            client, workflows=[HandCounter, CounterEntity], max_concurrent_workflow_tasks=200
        ) as tq:
            entities = EntityClient(client, CounterEntity, task_queue=tq)
            for round_ in range(args.rounds + 1):
                count = args.updates if round_ else 100
                run = uuid.uuid4().hex[:6]
                # One entity.
                (hand,) = await _hand_counters(client, tq, 1)
                hand_rate = await _send(
                    count, args.senders,
                    lambda i, h=hand: h.execute_update(HandCounter.add_now, Add(1, f"m-{i}")),
                )  # fmt: skip
                one = f"one-{run}"
                # Entities start on their first message: start them before the clock, as the
                # hand-written workflows are.
                await entities.update(one, CounterEntity.add_now, Add(0, "start"))
                for j in range(args.entities):
                    await entities.update(f"many-{run}-{j}", CounterEntity.add_now, Add(0, "start"))
                ours_rate = await _send(
                    count, args.senders,
                    lambda i, e=one: entities.update(
                        e, CounterEntity.add_now, Add(1, f"m-{i}"), message_id=f"{e}-{i}"
                    ),
                )  # fmt: skip
                # Many entities, one sender each, the same number of updates in all.
                hands = await _hand_counters(client, tq, args.entities)
                many_hand = await _send(
                    count, args.entities,
                    lambda i, hs=hands: hs[i % len(hs)].execute_update(
                        HandCounter.add_now, Add(1, f"m-{i}")
                    ),
                )  # fmt: skip
                many_ours = await _send(
                    count, args.entities,
                    lambda i, r=run: entities.update(
                        f"many-{r}-{i % args.entities}", CounterEntity.add_now, Add(1, f"m-{i}"),
                        message_id=f"{r}-{i}",
                    ),
                )  # fmt: skip
                for handle in [hand, *hands]:
                    await handle.terminate()
                for key in [one, *(f"many-{run}-{j}" for j in range(args.entities))]:
                    await entities.handle(key).terminate()
                if round_:
                    rates["hand1"].append(hand_rate)
                    rates["ours1"].append(ours_rate)
                    rates["handN"].append(many_hand)
                    rates["oursN"].append(many_ours)
    print(f"{args.updates} updates, updates/s:")
    h1 = summarize(f"hand-written, 1 workflow x{args.senders}", rates["hand1"])
    o1 = summarize(f"agenthub Entity, 1 entity x{args.senders}", rates["ours1"])
    hn = summarize(f"hand-written, {args.entities} workflows", rates["handN"])
    on = summarize(f"agenthub Entity, {args.entities} entities", rates["oursN"])
    print(f"ratio agenthub/hand-written, one entity: {o1 / h1:.2f}")
    print(f"ratio agenthub/hand-written, {args.entities} entities: {on / hn:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
