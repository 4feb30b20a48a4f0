"""Worker process for the entity crash test: ``python -m tests.entity_worker ADDR TQ``."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from agenthub.testing import running_worker
from tests.entity_workflows import Account, pass_gate


async def main() -> None:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    client = await Client.connect(sys.argv[1], data_converter=pydantic_data_converter)
    async with running_worker(
        client,
        workflows=[Account],
        activities=[pass_gate],
        task_queue=sys.argv[2],
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
    ):
        print("WORKER_READY", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
