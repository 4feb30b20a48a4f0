"""Many trivial activities: agenthub's hierarchical fan_out vs hand-written chunks.

Baseline: one workflow runs 1,000 activities at a time and continues as new after each
chunk (the best plain-temporalio shape: bounded history, full parallelism per chunk).
agenthub: ``fan_out(ItemRange(0, n), batch_size=1000)``: child workflows of 1,000 items.
Same embedded server, same worker, one after the other; prints items/s, the ratio, the
peak RSS of this process (worker and client) and of the server, and a progress line every
``--progress-every`` seconds (read from the fan-out's progress query).

    .venv/bin/python -m benchmarks.fanout_scale --items 100000
    .venv/bin/python -m benchmarks.fanout_scale --items 1000000 --only agenthub
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import uuid

from temporalio.client import Client, WorkflowHandle

from agenthub.patterns.fanout import fan_out_progress
from agenthub.testing import running_worker
from benchmarks._common import client_for, embedded_server_process, process_peak_rss_mib
from benchmarks.workloads import ChunkedByHand, FanOutScale, trivial


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def report_progress(
    client: Client, workflow_id: str, total: int, every: float, server_pid: int | None
) -> None:
    """Print done/total, the rate so far and memory every ``every`` seconds until cancelled."""
    began = time.perf_counter()
    while True:
        await asyncio.sleep(every)
        try:
            progress = await fan_out_progress(client, workflow_id)
        except Exception as err:  # the query is best effort: a busy server may time it out
            print(f"  progress unavailable: {err}", flush=True)
            continue
        elapsed = time.perf_counter() - began
        print(
            f"  {elapsed:7.0f}s {progress.done:>9}/{total} done, {progress.failed} failed, "
            f"{progress.done / elapsed:6.1f} items/s; RSS peak {peak_rss_mib():.0f} MiB, "
            f"server {process_peak_rss_mib(server_pid) or 0:.0f} MiB",
            flush=True,
        )


async def run_one(
    client: Client,
    label: str,
    run_args: list[int],
    tq: str,
    progress_every: float,
    server_pid: int | None,
) -> float:
    """Runs one workflow to completion; returns its duration in seconds."""
    began = time.perf_counter()
    workflow_type = ChunkedByHand if label == "hand" else FanOutScale
    handle: WorkflowHandle[object, object] = await client.start_workflow(
        workflow_type.__name__, args=run_args, id=f"{label}-{uuid.uuid4()}", task_queue=tq
    )
    reporter = None
    if label == "agenthub" and progress_every > 0:
        reporter = asyncio.create_task(
            report_progress(client, handle.id, run_args[0], progress_every, server_pid)
        )
    try:
        done = await handle.result()
    finally:
        if reporter is not None:
            reporter.cancel()
    assert done == run_args[0], (label, done)
    return time.perf_counter() - began


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--max-concurrency", type=int, default=100)
    parser.add_argument("--only", choices=["both", "agenthub", "hand"], default="both")
    parser.add_argument(
        "--progress-every", type=float, default=0.0, help="seconds between progress lines (0: none)"
    )
    args = parser.parse_args()
    rates: dict[str, float] = {}
    server_peak: float | None = None
    async with embedded_server_process() as server:
        client = await client_for(server.address)
        async with running_worker(
            client,
            workflows=[ChunkedByHand, FanOutScale],
            activities=[trivial],
            max_concurrent_activities=500,
            max_concurrent_workflow_tasks=100,
        ) as tq:
            runs = [("hand", [args.items]), ("agenthub", [args.items, args.max_concurrency])]
            for label, run_args in runs:
                if args.only not in ("both", label):
                    continue
                seconds = await run_one(
                    client, label, run_args, tq, args.progress_every, server.pid
                )
                rates[label] = args.items / seconds
                print(
                    f"{label:<9} {args.items} items in {seconds:8.1f}s = {rates[label]:7.1f} "
                    f"items/s; peak RSS so far {peak_rss_mib():.0f} MiB",
                    flush=True,
                )
        server_peak = process_peak_rss_mib(server.pid)
    if len(rates) == 2:
        print(f"ratio agenthub/hand-written: {rates['agenthub'] / rates['hand']:.2f} "
              "(target >= 0.9)")  # fmt: skip
    print(f"peak RSS (worker + client): {peak_rss_mib():.0f} MiB (target < 1024)")
    if server_peak is not None:
        print(f"peak RSS of the embedded Temporal server: {server_peak:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
