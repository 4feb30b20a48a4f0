"""Embedded server vs the stock dev server on a SQLite file: one-activity workflows/s.

Both servers are the same ``temporal`` binary; agenthub's adds the WAL pragmas. Rounds
alternate between the two so machine noise hits both alike.

    .venv/bin/python -m benchmarks.embedded_server --workflows 500 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio

from agenthub.testing import running_worker
from benchmarks._common import client_for, embedded_server, stock_dev_server, summarize, timed_batch
from benchmarks.workloads import OneActivity, touch


async def measure(server_cm, workflows: int) -> float:
    async with server_cm() as address:
        client = await client_for(address)
        async with running_worker(
            client,
            workflows=[OneActivity],
            activities=[touch],
            max_concurrent_workflow_tasks=200,
            max_concurrent_activities=200,
        ) as task_queue:

            async def start_one(wf_id: str) -> str:
                return await client.execute_workflow(
                    OneActivity.run, wf_id, id=wf_id, task_queue=task_queue
                )

            await timed_batch(start_one, 20)  # warm-up: connections, caches
            return await timed_batch(start_one, workflows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stock: list[float] = []
    embedded: list[float] = []
    for _ in range(args.rounds):
        stock.append(await measure(stock_dev_server, args.workflows))
        embedded.append(await measure(embedded_server, args.workflows))
    print(f"{args.workflows} one-activity workflows started at once, workflows/s:")
    s = summarize("stock start-dev --db-filename", stock)
    e = summarize("agenthub embedded server", embedded)
    print(f"ratio embedded/stock (median): {e / s:.2f}  (target >= 1.8)")


if __name__ == "__main__":
    asyncio.run(main())
