"""Process 100,000 items with a hierarchical fan-out and a live progress bar.

    .venv/bin/python examples/fan_out.py            # 100,000 items
    .venv/bin/python examples/fan_out.py --items 5000

Items go by reference (an index range), 1,000 per child workflow, so no history holds more
than one batch; the fan-in is a sum, so the result stays one number whatever the size.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import timedelta

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from temporalio import activity, workflow

from agenthub.patterns.fanout import (
    FanOutResult,
    ItemRange,
    Reduce,
    Tolerate,
    fan_out,
    fan_out_progress,
)

try:
    from examples._common import embedded_worker
except ImportError:  # run as a script
    from _common import embedded_worker  # type: ignore[no-redef]


TASK_QUEUE = "examples.fan-out"
"""This example's own task queue: its worker runs every workflow started there."""


@activity.defn
async def score(item: int) -> int:
    """Stands in for real per-item work (an API call, a model call, a file)."""
    return (item * 7919) % 101


@workflow.defn
class ScoreAll:
    @workflow.run
    async def run(self, count: int) -> FanOutResult:
        return await fan_out(
            score,
            ItemRange(0, count),
            max_concurrency=200,
            batch_size=1000,
            reduce=Reduce("sum"),
            failures=Tolerate(max_ratio=0.001),
            start_to_close_timeout=timedelta(seconds=30),
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    async with embedded_worker(
        TASK_QUEUE,
        [ScoreAll],
        [score],
        max_concurrent_activities=400,
        max_concurrent_workflow_tasks=100,
    ) as (client, task_queue):
        began = time.perf_counter()
        workflow_id = f"score-{uuid.uuid4()}"
        handle = await client.start_workflow(
            ScoreAll.run, args.items, id=workflow_id, task_queue=task_queue
        )
        columns = [*Progress.get_default_columns()[:2], BarColumn(), MofNCompleteColumn()]
        with Progress(*columns, TimeRemainingColumn()) as bar:
            task = bar.add_task("scoring", total=args.items)
            result_task = asyncio.ensure_future(handle.result())
            while not result_task.done():
                # The whole tree's count: children in flight included, one query each.
                progress = await fan_out_progress(client, workflow_id)
                bar.update(task, completed=progress.done + progress.failed)
                await asyncio.wait([result_task], timeout=0.5)
            result = result_task.result()
            bar.update(task, completed=args.items)
    seconds = time.perf_counter() - began
    print(
        f"scored {result.succeeded} items ({result.failed} failed), total score {result.value}, "
        f"in {seconds:.1f}s ({result.succeeded / seconds:.0f} items/s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
