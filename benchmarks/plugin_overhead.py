"""What AgentHubPlugin costs: the same hand-written 3-step workflow on
* a plain temporalio worker (pydantic converter, the SDK's default sandbox),
* the same with agenthub's sandbox passthrough only (the fair baseline for overhead),
* a plain worker whose client carries the plugin (agenthub's converter and passthrough,
  its workflows registered, the activity interceptor).
Same embedded server, rounds alternating:

    .venv/bin/python -m benchmarks.plugin_overhead --workflows 300 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from agenthub import AgentHubPlugin, Settings
from agenthub.runtime.sandbox import sandboxed_runner
from benchmarks._common import embedded_server, summarize, timed_batch
from benchmarks.workloads import ThreeStepHandWritten, saga_step, saga_undo


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"plain": [], "passthrough": [], "plugin": []}
    async with embedded_server() as address:
        plain = await Client.connect(address, data_converter=pydantic_data_converter)
        clients = {
            "plain": (plain, {}),
            "passthrough": (plain, {"workflow_runner": sandboxed_runner()}),
            "plugin": (
                await Client.connect(
                    address, plugins=[AgentHubPlugin(Settings(payload_offload="false"))]
                ),
                {},
            ),
        }
        for round_ in range(args.rounds + 1):
            for label, (client, options) in clients.items():
                task_queue = f"bench-{label}-{uuid.uuid4().hex[:6]}"
                worker = Worker(
                    client, task_queue=task_queue, workflows=[ThreeStepHandWritten],
                    activities=[saga_step, saga_undo], max_concurrent_workflow_tasks=200,
                    max_concurrent_activities=200, **options,
                )  # fmt: skip
                async with worker:

                    async def start_one(wf_id: str, client=client, tq=task_queue) -> list[str]:
                        return await client.execute_workflow(
                            ThreeStepHandWritten.run, wf_id, id=wf_id, task_queue=tq
                        )

                    rate = await timed_batch(start_one, args.workflows if round_ else 20)
                if round_:  # round 0 warms up both
                    rates[label].append(rate)
    print(f"{args.workflows} three-step workflows started at once, workflows/s:")
    default = summarize("plain, SDK default sandbox", rates["plain"])
    baseline = summarize("plain + agenthub passthrough", rates["passthrough"])
    plugin = summarize("worker with AgentHubPlugin", rates["plugin"])
    print(f"ratio plugin/passthrough (median): {plugin / baseline:.2f}  (target >= 0.95)")
    print(f"ratio plugin/SDK default (median): {plugin / default:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
