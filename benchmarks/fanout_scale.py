"""Many trivial activities: agenthub's hierarchical fan_out vs hand-written chunks.

Baseline: one workflow runs 1,000 activities at a time and continues as new after each
chunk (the best plain-temporalio shape: bounded history, full parallelism per chunk).
agenthub: ``fan_out(ItemRange(0, n), batch_size=1000)``: child workflows of 1,000 items.
Same embedded server, same worker, one after the other; prints items/s, the ratio and the
peak RSS of this process (worker and client).

    .venv/bin/python -m benchmarks.fanout_scale --items 100000
    .venv/bin/python -m benchmarks.fanout_scale --items 1000000 --only agenthub
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import uuid

from agenthub.testing import running_worker
from benchmarks._common import client_for, embedded_server
from benchmarks.workloads import ChunkedByHand, FanOutScale, trivial


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--max-concurrency", type=int, default=100)
    parser.add_argument("--only", choices=["both", "agenthub", "hand"], default="both")
    args = parser.parse_args()
    rates: dict[str, float] = {}
    async with embedded_server() as address:
        client = await client_for(address)
        async with running_worker(
            client,
            workflows=[ChunkedByHand, FanOutScale],
            activities=[trivial],
            max_concurrent_activities=500,
            max_concurrent_workflow_tasks=100,
        ) as tq:
            runs = [("hand", ChunkedByHand.run, [args.items]),
                    ("agenthub", FanOutScale.run, [args.items, args.max_concurrency])]  # fmt: skip
            for label, run, run_args in runs:
                if args.only not in ("both", label):
                    continue
                began = time.perf_counter()
                done = await client.execute_workflow(
                    run, args=run_args, id=f"{label}-{uuid.uuid4()}", task_queue=tq
                )
                seconds = time.perf_counter() - began
                assert done == args.items, (label, done)
                rates[label] = args.items / seconds
                print(
                    f"{label:<9} {args.items} items in {seconds:8.1f}s = {rates[label]:7.1f} "
                    f"items/s; peak RSS so far {peak_rss_mib():.0f} MiB"
                )
    if len(rates) == 2:
        print(f"ratio agenthub/hand-written: {rates['agenthub'] / rates['hand']:.2f} "
              "(target >= 0.9)")  # fmt: skip
    print(f"peak RSS (worker + client): {peak_rss_mib():.0f} MiB (target < 1024)")


if __name__ == "__main__":
    asyncio.run(main())
