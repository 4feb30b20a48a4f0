# expect: clean
import os
import time
import uuid
from datetime import timedelta

import httpx

from temporalio import activity, workflow


@activity.defn
async def fetch(url: str) -> str:
    # Activities may do anything: I/O, clocks, environment.
    async with httpx.AsyncClient() as http:
        body = (await http.get(url)).text
    return f"{body}{time.time()}{uuid.uuid4()}{os.environ.get('X')}"


@workflow.defn
class Orchestrates:
    @workflow.run
    async def run(self, url: str) -> str:
        return await workflow.execute_activity(
            fetch, url, start_to_close_timeout=timedelta(seconds=30)
        )
