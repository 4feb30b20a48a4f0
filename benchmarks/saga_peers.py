"""agenthub's Saga on the embedded default vs DBOS on SQLite, the same 3-step saga, in the
same run: workflows/s of N sagas started at once, and the ratio.

DBOS (``pip install 'agenthub[bench]'``) runs in a process of its own (it is a process-wide
singleton), on a fresh SQLite file, with steps that do what agenthub's steps do (return
their name), in both of its APIs: async (steps and workflows as coroutines) and synchronous
(plain functions, workflows started from a thread pool), which is the faster of the two on
this machine; every agenthub figure is compared with the faster DBOS, as a user choosing
DBOS would. agenthub runs its Saga started eagerly by a client that shares the worker's
process, on the embedded server (SQLite file), in the SDK's sandbox:

* the headline: local steps (``local_steps=True``), the workflow in a module of its own with
  its imports passed through, as the README's "Sandbox cost" recommends
  (``benchmarks/saga_small.py``, one workflow; the activity-step variant in
  ``saga_small_activity.py``);
* the same and with activity steps in ``benchmarks/workloads.py``, a 340-line module of
  twelve workflows that the sandbox imports again for every run;
* the same saga outside the sandbox (``sandboxed=False``, linted).

Rounds alternate between the variants and DBOS; round 0 warms them up. The worker has a
workflow-task slot per saga of the burst, so every start is eager; a saga slower than 5 s
has its history read, and sagas that waited out a workflow task timeout (a server stall
under the burst) are counted and printed.

    .venv/bin/python -m benchmarks.saga_peers --workflows 300 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from agenthub.testing import running_worker
from benchmarks._common import client_for, embedded_server, summarize
from benchmarks.saga_small import SmallModuleLocalSaga
from benchmarks.saga_small_activity import SmallModuleSaga
from benchmarks.workloads import (
    ThreeStepLocalSaga,
    ThreeStepLocalSagaUnsandboxed,
    ThreeStepSaga,
    saga_step,
    saga_undo,
)


async def _dbos_rates(count: int, rounds: int) -> list[float]:
    """Run in a child process: DBOS on SQLite, ``rounds + 1`` batches of ``count``."""
    from dbos import DBOS, DBOSConfig

    with tempfile.TemporaryDirectory() as tmp:
        config: DBOSConfig = {
            "name": "saga-peers",
            "system_database_url": f"sqlite:///{Path(tmp) / 'dbos.sqlite'}",
        }
        DBOS(config=config)

        @DBOS.step()
        async def step(name: str) -> str:
            return name

        @DBOS.step()
        async def undo(name: str) -> None:
            return None

        @DBOS.workflow()
        async def three_step_saga(key: str) -> list[str]:
            undos: list[str] = []
            done = []
            try:
                for name in ("reserve", "charge", "ship"):
                    undos.append(f"{key}:{name}")
                    done.append(await step(f"{key}:{name}"))
            except BaseException:
                for name in reversed(undos):
                    await undo(name)
                raise
            return done

        DBOS.launch()

        async def batch(n: int) -> float:
            run = uuid.uuid4().hex[:8]
            began = time.perf_counter()
            handles = await asyncio.gather(
                *(DBOS.start_workflow_async(three_step_saga, f"{run}-{i}") for i in range(n))
            )
            await asyncio.gather(*(h.get_result() for h in handles))
            return n / (time.perf_counter() - began)

        async def all_rounds() -> list[float]:
            rates = []
            for round_ in range(rounds + 1):
                rate = await batch(count if round_ else 20)
                if round_:
                    rates.append(rate)
            return rates

        try:
            return await all_rounds()
        finally:
            DBOS.destroy()


def _dbos_sync_rates(count: int, rounds: int) -> list[float]:
    """Run in a child process: DBOS's synchronous API on SQLite (steps as plain functions,
    workflows started from threads), ``rounds + 1`` batches of ``count``."""
    from concurrent.futures import ThreadPoolExecutor

    from dbos import DBOS, DBOSConfig

    with tempfile.TemporaryDirectory() as tmp:
        config: DBOSConfig = {
            "name": "saga-peers-sync",
            "system_database_url": f"sqlite:///{Path(tmp) / 'dbos.sqlite'}",
        }
        DBOS(config=config)

        @DBOS.step()
        def step(name: str) -> str:
            return name

        @DBOS.step()
        def undo(name: str) -> None:
            return None

        @DBOS.workflow()
        def three_step_saga(key: str) -> list[str]:
            undos: list[str] = []
            done = []
            try:
                for name in ("reserve", "charge", "ship"):
                    undos.append(f"{key}:{name}")
                    done.append(step(f"{key}:{name}"))
            except BaseException:
                for name in reversed(undos):
                    undo(name)
                raise
            return done

        DBOS.launch()
        try:
            rates = []
            with ThreadPoolExecutor(max_workers=64) as pool:
                for round_ in range(rounds + 1):
                    n = count if round_ else 20
                    run = uuid.uuid4().hex[:8]
                    began = time.perf_counter()
                    handles = list(
                        pool.map(
                            lambda i, run=run: DBOS.start_workflow(three_step_saga, f"{run}-{i}"),
                            range(n),
                        )
                    )
                    list(pool.map(lambda h: h.get_result(), handles))
                    if round_:
                        rates.append(n / (time.perf_counter() - began))
            return rates
        finally:
            DBOS.destroy()


async def _dbos_in_child(count: int, api: str = "async") -> float:
    flag = "--dbos-child" if api == "async" else "--dbos-sync-child"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.saga_peers", flag, str(count),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DBOS__APPVERSION": "bench"},
    )  # fmt: skip
    out, err = await child.communicate()
    if child.returncode != 0:
        raise SystemExit(
            f"DBOS run failed (pip install 'agenthub[bench]'?):\n{err.decode()[-2000:]}"
        )
    rate: float = json.loads(out.decode().strip().splitlines()[-1])["rate"]
    return rate


STALL_SECONDS = 5.0
"""A saga slower than this has its history read: did it wait for a workflow task timeout?"""


async def _waited_for_task_timeout(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the workflow's history has a timed-out workflow task.

    Under a burst on the embedded server (SQLite, one writer), the history service's
    hand-off of a workflow task to matching can pass its fixed 3 s deadline; the task is
    then recorded as started while no poller received it, and waits out the 10 s workflow
    task timeout (the server's log: "Update workflow execution operation failed ... context
    canceled", then "Fail to process task ... TransferWorkflowTask"). One such saga makes
    its round 10 s long, so rounds with one are named.
    """
    history = await handle.fetch_history()
    timed_out = EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
    return any(event.event_type == timed_out for event in history.events)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--polls", type=int, default=5, help="workflow task pollers (tuning)")
    parser.add_argument("--skip-dbos", action="store_true", help="agenthub's variants only")
    parser.add_argument("--dbos-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--dbos-sync-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dbos_sync_child:
        rates_sync = _dbos_sync_rates(args.dbos_sync_child, 1)
        print(json.dumps({"rate": rates_sync[-1]}))
        return
    if args.dbos_child:
        # One warm-up batch and one measured batch per child process.
        rates = await _dbos_rates(args.dbos_child, 1)
        print(json.dumps({"rate": rates[-1]}))
        return
    stalls: Counter[str] = Counter()
    rates: dict[str, list[float]] = {
        "dbos": [], "dbos_sync": [], "local": [], "saga": [], "bare": [], "small": [],
        "small_saga": [],
    }  # fmt: skip
    async with embedded_server() as address:
        client = await client_for(address)
        async with running_worker(
            client,
            workflows=[
                ThreeStepLocalSaga,
                ThreeStepSaga,
                ThreeStepLocalSagaUnsandboxed,
                SmallModuleLocalSaga,
                SmallModuleSaga,
            ],
            activities=[saga_step, saga_undo],
            # A slot per saga of the burst: an eager start needs a free slot, and a start
            # that finds none goes through the server's transfer queue and matching instead
            # (more server CPU; see README "Saga", the rare 10 s stall under a burst).
            max_concurrent_workflow_tasks=max(200, args.workflows),
            max_concurrent_activities=200,
            max_concurrent_local_activities=200,
            max_concurrent_workflow_task_polls=args.polls,
        ) as task_queue:
            for round_ in range(args.rounds + 1):
                for label, wf in (
                    ("local", ThreeStepLocalSaga), ("saga", ThreeStepSaga),
                    ("bare", ThreeStepLocalSagaUnsandboxed), ("small", SmallModuleLocalSaga),
                    ("small_saga", SmallModuleSaga),
                ):  # fmt: skip

                    async def start_one(wf_id: str, wf: type = wf, label: str = label) -> list[str]:
                        began = time.perf_counter()
                        handle = await client.start_workflow(
                            wf.run, wf_id, id=wf_id, task_queue=task_queue,  # type: ignore[attr-defined]
                            request_eager_start=True,
                        )  # fmt: skip
                        result: list[str] = await handle.result()
                        if time.perf_counter() - began > STALL_SECONDS and (
                            await _waited_for_task_timeout(handle)
                        ):
                            stalls[label] += 1
                        return result

                    count = args.workflows if round_ else 20
                    run = uuid.uuid4().hex[:8]
                    began = time.perf_counter()
                    await asyncio.gather(*(start_one(f"peer-{run}-{i}") for i in range(count)))
                    if round_:
                        rates[label].append(count / (time.perf_counter() - began))
                if round_ and not args.skip_dbos:
                    rates["dbos"].append(await _dbos_in_child(args.workflows))
                    rates["dbos_sync"].append(await _dbos_in_child(args.workflows, "sync"))
    if args.skip_dbos:
        rates["dbos"] = rates["dbos_sync"] = [float("nan")]
    print(f"{args.workflows} three-step sagas started at once, workflows/s:")
    if stalls:
        print(
            "sagas that waited out a 10 s workflow task timeout (a server stall under the "
            f"burst, see _waited_for_task_timeout): {dict(stalls)}; each makes its round "
            "about 10 s long, the medians below absorb one"
        )
    dbos_async = summarize("DBOS async API (SQLite)", rates["dbos"])
    dbos_sync = summarize("DBOS sync API (SQLite)", rates["dbos_sync"])
    dbos = max(dbos_async, dbos_sync)
    print(f"compared with the faster DBOS: the {'sync' if dbos == dbos_sync else 'async'} API")
    small = summarize("Saga, local steps, own module", rates["small"])
    small_saga = summarize("Saga, own module", rates["small_saga"])
    local = summarize("Saga, local steps, workloads.py", rates["local"])
    plain = summarize("Saga, workloads.py", rates["saga"])
    bare = summarize("Saga, local, no sandbox", rates["bare"])
    print(f"ratio Saga (local steps, own module) / DBOS: {small / dbos:.2f}  (target >= 1.1)")
    print(
        f"ratio README's first example (local steps, own module) / DBOS: {small / dbos:.2f}"
        "  (target >= 0.9)"
    )
    print(f"ratio Saga (activity steps, own module) / DBOS: {small_saga / dbos:.2f}")
    print(f"ratio Saga (local steps, in workloads.py) / DBOS: {local / dbos:.2f}")
    print(f"ratio Saga (activity steps, in workloads.py) / DBOS: {plain / dbos:.2f}")
    print(f"ratio Saga (local steps, outside the sandbox) / DBOS: {bare / dbos:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
