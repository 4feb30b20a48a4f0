"""What the workflow sandbox costs per run, and what agenthub's sandbox runner saves.

1. The import every run pays: the sandbox imports a workflow's module afresh for each run.
   Timed through the runner's own validation (``prepare_workflow`` creates one instance),
   for the local-step saga alone in its module (``saga_small.py``) and in the 340-line
   ``workloads.py``, under the SDK's runner and under agenthub's.
2. End to end: N local-step sagas (own module) started at once on a worker with the SDK's
   ``SandboxedWorkflowRunner`` (agenthub's passthroughs added, nothing else) vs one with
   ``CompiledGlueSandboxRunner``, the default under ``AgentHubPlugin``; same embedded server,
   rounds alternating; workflows/s and the ratio.

    .venv/bin/python -m benchmarks.sandbox_cost --workflows 300 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import time
from typing import Any

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from agenthub.runtime.sandbox import CompiledGlueSandboxRunner, sandboxed_runner
from agenthub.testing import running_worker
from benchmarks._common import client_for, embedded_server, summarize, timed_batch
from benchmarks.saga_small import SmallModuleLocalSaga
from benchmarks.workloads import ThreeStepLocalSaga, saga_step, saga_undo


@dataclasses.dataclass(frozen=True)
class SdkSandbox(SandboxedWorkflowRunner):
    """The SDK's runner as it is: ``AgentHubPlugin`` keeps a subclass the user chose, so
    only the passthroughs are added."""


def _import_ms(runner: SandboxedWorkflowRunner, workflow: Any, count: int) -> float:
    definition = workflow.__temporal_workflow_definition
    runner.prepare_workflow(definition)  # warm: the module's first import reads its file
    times = []
    for _ in range(count):
        began = time.perf_counter()
        runner.prepare_workflow(definition)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--imports", type=int, default=200, help="timed imports per case")
    args = parser.parse_args()

    sdk = sandboxed_runner(base=SdkSandbox())
    ours = dataclasses.replace(sandboxed_runner(), slow_import_warning_ms=None)
    assert type(ours) is CompiledGlueSandboxRunner
    print("the import every sandboxed run pays (median ms):")
    for label, workflow in (
        ("saga in its own module", SmallModuleLocalSaga),
        ("saga in workloads.py", ThreeStepLocalSaga),
    ):
        sdk_ms = _import_ms(sdk, workflow, args.imports)
        ours_ms = _import_ms(ours, workflow, args.imports)
        print(f"  {label:<24} SDK runner {sdk_ms:6.2f}  agenthub's {ours_ms:6.2f}")

    rates: dict[str, list[float]] = {"sdk": [], "ours": []}
    async with embedded_server() as address:
        client = await client_for(address)
        options: dict[str, Any] = dict(
            workflows=[SmallModuleLocalSaga], activities=[saga_step, saga_undo],
            max_concurrent_workflow_tasks=200, max_concurrent_activities=200,
            max_concurrent_local_activities=200,
        )  # fmt: skip
        async with (
            running_worker(client, workflow_runner=SdkSandbox(), **options) as sdk_queue,
            running_worker(client, **options) as our_queue,
        ):
            for round_ in range(args.rounds + 1):
                for label, queue in (("sdk", sdk_queue), ("ours", our_queue)):

                    async def start_one(wf_id: str, queue: str = queue) -> list[str]:
                        result: list[str] = await client.execute_workflow(
                            SmallModuleLocalSaga.run, wf_id, id=wf_id, task_queue=queue
                        )
                        return result

                    rate = await timed_batch(start_one, args.workflows if round_ else 20)
                    if round_:
                        rates[label].append(rate)
    print(f"{args.workflows} local-step sagas (own module) started at once, workflows/s:")
    sdk_rate = summarize("SDK's sandbox runner", rates["sdk"])
    our_rate = summarize("CompiledGlueSandboxRunner", rates["ours"])
    print(f"ratio agenthub's runner / SDK's: {our_rate / sdk_rate:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
