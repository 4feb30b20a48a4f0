"""agenthub's Saga vs the same 3-step saga hand-written in plain temporalio.

Same embedded server, same worker, rounds alternating between the two:

    .venv/bin/python -m benchmarks.saga_overhead --workflows 300 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio

from agenthub.testing import running_worker
from benchmarks._common import client_for, embedded_server, summarize, timed_batch
from benchmarks.workloads import ThreeStepHandWritten, ThreeStepSaga, saga_step, saga_undo


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"hand": [], "saga": []}
    async with embedded_server() as address:
        client = await client_for(address)
        async with running_worker(
            client,
            workflows=[ThreeStepSaga, ThreeStepHandWritten],
            activities=[saga_step, saga_undo],
            max_concurrent_workflow_tasks=200,
            max_concurrent_activities=200,
        ) as task_queue:
            for round_ in range(args.rounds + 1):
                for label, wf in (("hand", ThreeStepHandWritten), ("saga", ThreeStepSaga)):

                    async def start_one(wf_id: str, wf=wf) -> list[str]:
                        return await client.execute_workflow(
                            wf.run, wf_id, id=wf_id, task_queue=task_queue
                        )

                    rate = await timed_batch(start_one, args.workflows if round_ else 20)
                    if round_:  # round 0 warms up both
                        rates[label].append(rate)
    print(f"{args.workflows} three-step sagas started at once, workflows/s:")
    hand = summarize("hand-written try/except", rates["hand"])
    saga = summarize("agenthub Saga", rates["saga"])
    print(f"ratio Saga/hand-written (median): {saga / hand:.2f}  (target >= 0.95)")


if __name__ == "__main__":
    asyncio.run(main())
