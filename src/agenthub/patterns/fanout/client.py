"""Reading a fan-out's progress from a client."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from agenthub.patterns.fanout.engine import FANOUT_QUERY, FanOutProgress

__all__ = ["fan_out_progress"]


async def fan_out_progress(client: Client, workflow_id: str) -> FanOutProgress:
    """Progress of a whole fan-out tree, read from a client by queries.

    The workflow's own count covers finished children only; this adds the progress of each
    child in flight (recursively, children queried concurrently). A child that cannot be
    queried yet (just started) or any more counts as nothing new; the returned
    ``running_children`` are the top workflow's.

    Example::

        await client.start_workflow(Thumbnails.run, 100_000, id="thumbs", task_queue=...)
        progress = await fan_out_progress(client, "thumbs")
        print(f"{progress.done}/{progress.total} done, {progress.failed} failed")
    """
    handle = client.get_workflow_handle(workflow_id)
    top: FanOutProgress = await handle.query(FANOUT_QUERY, result_type=FanOutProgress)

    async def in_flight(child_id: str) -> tuple[int, int]:
        try:
            child = await fan_out_progress(client, child_id)
        except Exception:  # not started yet, or gone: its items are counted by the parent
            return 0, 0
        return child.done, child.failed

    counts = await asyncio.gather(*(in_flight(c) for c in top.running_children))
    return FanOutProgress(
        total=top.total,
        done=top.done + sum(d for d, _ in counts),
        failed=top.failed + sum(f for _, f in counts),
        running_children=top.running_children,
    )
