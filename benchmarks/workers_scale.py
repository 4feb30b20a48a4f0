"""Saga and agent-task throughput with 1, 2 and 3 ``agenthub worker`` processes on the cluster
profile: a dev server started on its own (not the embedded one), the ledger in PostgreSQL,
the callback secret from the environment, each worker with an empty data dir of its own.

For each worker count: ``--sagas`` 3-step sagas, then ``--tasks`` agent tasks (the offline
model, one side-effect tool), all started at once from this process (which runs no worker);
per configuration the rates, the ratio to one worker (the baseline, same run), and the CPU
seconds each worker process and the server used.

    python -m benchmarks.workers_scale [--sagas 300] [--tasks 60] [--workers 1,2,3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

from agenthub.agents import start_agent_task
from benchmarks._common import client_for, free_port
from tests import postgres

TOML = """
[agents.scale]
instructions = "Reserve what is asked."
tools = ["benchmarks.workers_scale_tools:reserve"]
"""


async def start_workers(
    count: int, env: dict[str, str], root: Path
) -> list[asyncio.subprocess.Process]:
    workers = []
    for i in range(count):
        log = (root / f"worker-{i}.log").open("ab")
        workers.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "agenthub",
                "worker",
                "--app",
                "benchmarks.saga_small",
                "--app",
                "benchmarks.workloads:saga_step",
                "--app",
                "benchmarks.workloads:saga_undo",
                env={**env, "AGENTHUB_DATA_DIR": str(root / f"worker-{i}")},
                stdout=log,
                stderr=log,
            )
        )
    for i in range(count):
        while "polling" not in (root / f"worker-{i}.log").read_text(errors="replace"):
            if workers[i].returncode is not None:
                raise SystemExit((root / f"worker-{i}.log").read_text())
            await asyncio.sleep(0.1)
    return workers


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def one_configuration(
    count: int, address: str, env: dict[str, str], sagas: int, tasks: int, server_pid: int
) -> tuple[float, float, list[float], float]:
    queue = f"scale-{count}-{uuid.uuid4().hex[:6]}"
    env = {**env, "AGENTHUB_TASK_QUEUE": queue}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        workers = await start_workers(count, env, root)
        print(f"  {count} worker(s) polling", flush=True)
        try:
            client = await client_for(address)
            before = [cpu_seconds(w.pid) for w in workers]
            server_before = cpu_seconds(server_pid)
            run = uuid.uuid4().hex[:6]
            began = time.perf_counter()
            await asyncio.gather(
                *(
                    client.execute_workflow(
                        "SmallModuleSaga", f"{run}-{i}", id=f"saga-{run}-{i}", task_queue=queue
                    )
                    for i in range(sagas)
                )
            )
            saga_rate = sagas / (time.perf_counter() - began)
            began = time.perf_counter()
            handles = await asyncio.gather(
                *(
                    start_agent_task(client, "scale", f"reserve seat {i}", task_queue=queue)
                    for i in range(tasks)
                )
            )
            await asyncio.gather(*(h.result() for h in handles))
            task_rate = tasks / (time.perf_counter() - began)
            used = [cpu_seconds(w.pid) - b for w, b in zip(workers, before, strict=True)]
            return saga_rate, task_rate, used, cpu_seconds(server_pid) - server_before
        finally:
            for worker in workers:
                worker.kill()
                await worker.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sagas", type=int, default=300)
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--workers", default="1,2,3")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    reason = postgres.unavailable_reason()
    if reason:
        raise SystemExit(f"PostgreSQL is needed for the cluster profile's ledger: {reason}")
    from benchmarks._common import stock_dev_server

    with tempfile.TemporaryDirectory() as tmp, postgres.postgres_server() as dsn:
        (Path(tmp) / "agenthub.toml").write_text(TOML)
        async with stock_dev_server() as address:
            port = int(address.rpartition(":")[2])
            server_pid = next(
                c.pid
                for c in psutil.net_connections("tcp")
                if c.laddr and c.laddr.port == port and c.status == "LISTEN" and c.pid
            )
            env = {
                **os.environ, "TEMPORAL_ADDRESS": address, "AGENTHUB_LEDGER": dsn,
                "AGENTHUB_CALLBACK_SECRET": "workers-scale-" + uuid.uuid4().hex,
                "AGENTHUB_CONFIG": str(Path(tmp) / "agenthub.toml"),
                "AGENTHUB_SERVER_PORT": str(free_port()),  # never the embedded server's port
            }  # fmt: skip
            print(f"{args.sagas} sagas and {args.tasks} agent tasks per row, started at once")
            print("workers  sagas/s  ratio  tasks/s  ratio  CPU s per worker      server CPU s")
            base: tuple[float, float] | None = None
            for count in counts:
                saga_rate, task_rate, used, server = await one_configuration(
                    count, address, env, args.sagas, args.tasks, server_pid
                )
                base = base or (saga_rate, task_rate)
                print(
                    f"{count:>7}  {saga_rate:7.1f}  {saga_rate / base[0]:5.2f}  "
                    f"{task_rate:7.1f}  {task_rate / base[1]:5.2f}  "
                    f"{', '.join(f'{u:.1f}' for u in used):<20}  {server:.1f}"
                )
    print(f"(this machine: {os.cpu_count()} cores, shared by the server, the workers and this)")


if __name__ == "__main__":
    asyncio.run(main())
