"""Activities that write one row, with and without the idempotency ledger.

Without: the activity inserts the row into a SQLite file. With: the same insert runs through
``SqliteLedger.run_once`` (key lookup + effect + record in one transaction). Same embedded
server, same worker, rounds alternating:

    .venv/bin/python -m benchmarks.idempotency_overhead --activities 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from agenthub.testing import running_worker
from benchmarks._common import client_for, embedded_server, summarize
from benchmarks.workloads import EffectBatch, EffectFanOut, record_effect

PER_WORKFLOW = 100


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activities", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rates: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        async with embedded_server() as address:
            client = await client_for(address)
            async with running_worker(
                client,
                workflows=[EffectFanOut],
                activities=[record_effect],
                max_concurrent_activities=100,
            ) as tq:
                for round_ in range(args.rounds + 1):
                    for use_ledger in (False, True):
                        total = args.activities if round_ else 200
                        db = str(Path(tmp) / f"{'ledger' if use_ledger else 'plain'}.db")
                        began = time.perf_counter()
                        await asyncio.gather(
                            *(
                                client.execute_workflow(
                                    EffectFanOut.run,
                                    EffectBatch(db, PER_WORKFLOW, use_ledger),
                                    id=f"effects-{uuid.uuid4()}",
                                    task_queue=tq,
                                )
                                for _ in range(total // PER_WORKFLOW)
                            )
                        )
                        if round_:  # round 0 warms up both
                            rates[use_ledger].append(total / (time.perf_counter() - began))
    print(f"{args.activities} one-row activities, activities/s:")
    plain = summarize("plain insert", rates[False])
    ledger = summarize("insert through the ledger", rates[True])
    print(f"throughput ratio ledger/plain (median): {ledger / plain:.2f}  "
          f"(overhead {100 * (1 - ledger / plain):.1f}%; target < 15%)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
