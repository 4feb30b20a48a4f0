"""A worker process for the agent crash test:
``python -m tests.agent_crash_worker ADDRESS TASK_QUEUE MODEL_URL DATA_DIR [hold]``.

The agent's model is the test's local OpenAI-compatible server. Its tool ``charge`` has a
side effect: it appends a line to ``<DATA_DIR>/effects``. With ``hold``, the worker hangs
right after the tool has acted and its ledger record is written, before the activity's
completion reaches the server (it prints ``TOOL_RECORDED``): the test SIGKILLs it there.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from agenthub.agents import AgentSpec, AgentsPlugin, LimiterSpec, tool
from agenthub.runtime import AgentHubPlugin, Settings, build_worker

ADDRESS, TASK_QUEUE, MODEL_URL, DATA_DIR = sys.argv[1:5]
HOLD = sys.argv[5:] == ["hold"]
# ``hold-in-tool``: hang inside the tool, after its effect, before it returns (its ledger
# claim is still running): the recovery benchmark kills the worker there.
HOLD_IN_TOOL = sys.argv[5:] == ["hold-in-tool"]
TOOL_TIMEOUT = timedelta(seconds=float(os.environ.get("CRASH_TOOL_TIMEOUT", "3")))


@tool(side_effect=True, timeout=TOOL_TIMEOUT)
async def charge(amount: int) -> str:
    """Charge the customer."""
    with (Path(DATA_DIR) / "effects").open("a") as f:
        f.write(f"charged {amount}\n")
    if HOLD_IN_TOOL:
        print("TOOL_ACTING", flush=True)
        await asyncio.Event().wait()
    return f"charged {amount}"


class _HoldAfterTool(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await self.next.execute_activity(input)
        if HOLD and "call_tool" in activity.info().activity_type:
            print("TOOL_RECORDED", flush=True)
            await asyncio.Event().wait()  # the test SIGKILLs this process now
        return result


class Hold(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _HoldAfterTool(next)


CRASHY = AgentSpec(name="crashy", model="openai:test-model", tools=[charge])
# One permit for all: a task whose worker dies must still give it back.
LIMITED = AgentSpec(
    name="crashy-limited",
    model="openai:test-model",
    limiter=LimiterSpec("crash-test-model", max_concurrent=1),
    model_heartbeat_timeout=timedelta(seconds=2),
)


async def main() -> None:
    settings = Settings(data_dir=Path(DATA_DIR), payload_offload="false", openai_base_url=MODEL_URL)
    plugins = [AgentHubPlugin(settings), AgentsPlugin(CRASHY, LIMITED, settings=settings)]
    client = await Client.connect(ADDRESS, plugins=plugins)
    async with build_worker(client, settings, task_queue=TASK_QUEUE, interceptors=[Hold()]):
        print("READY", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
