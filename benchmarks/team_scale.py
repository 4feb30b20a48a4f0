"""Many agents through agenthub's shared limiter vs the same agents plainly (pydantic-ai, not
durable) behind an asyncio semaphore in one process, both against one local model server
with the same concurrency limit, in the same run: tasks/s and their ratio, the most model
requests in flight (must not pass the limit), and how late live readers get task events.

    .venv/bin/python -m benchmarks.team_scale --tasks 100 --limit 8 --readers 10
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from temporalio.client import Client

from agenthub.agents import (
    AgentSpec,
    AgentsPlugin,
    LimiterSpec,
    agent_events,
    start_agent_task,
)
from agenthub.agents.testing import ModelServer, serving
from agenthub.runtime import AgentHubPlugin, Settings
from agenthub.testing import running_worker
from benchmarks._common import embedded_server


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--limit", type=int, default=8, help="model requests in flight")
    parser.add_argument("--readers", type=int, default=10, help="tasks followed live")
    parser.add_argument("--delay", type=float, default=0.05, help="model latency, seconds")
    args = parser.parse_args()

    from pydantic_ai import Agent

    from agenthub.agents.spec import resolve_model

    model = ModelServer(delay=args.delay)
    async with serving(model), embedded_server() as address:
        with TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), openai_base_url=model.url)
            limit = LimiterSpec("bench-model", max_concurrent=args.limit)
            spec = AgentSpec(name="scaled", model="openai:bench", limiter=limit)
            plugins = [AgentHubPlugin(settings), AgentsPlugin(spec, settings=settings)]
            client = await Client.connect(address, plugins=plugins)
            plain = Agent(resolve_model("openai:bench", settings))
            semaphore = asyncio.Semaphore(args.limit)

            async def plain_task(i: int) -> str:
                async with semaphore:
                    return str((await plain.run(f"task {i}")).output)

            async with running_worker(
                client, max_concurrent_activities=200, max_concurrent_workflow_tasks=200
            ) as queue:
                await asyncio.gather(*(plain_task(i) for i in range(5)))  # warm up
                model.most_in_flight = 0
                start = time.perf_counter()
                await asyncio.gather(*(plain_task(i) for i in range(args.tasks)))
                plain_rate = args.tasks / (time.perf_counter() - start)
                plain_most = model.most_in_flight

                model.most_in_flight = 0
                delays: list[float] = []

                async def follow(task_id: str) -> None:
                    # Only events that happen while the reader is subscribed measure delivery.
                    subscribed = time.time()
                    async for item in agent_events(client, task_id):
                        if item.event.at >= subscribed:
                            delays.append(time.time() - item.event.at)

                start = time.perf_counter()
                handles = await asyncio.gather(
                    *(
                        start_agent_task(client, "scaled", f"task {i}", task_queue=queue)
                        for i in range(args.tasks)
                    )
                )
                readers = [asyncio.ensure_future(follow(h.id)) for h in handles[: args.readers]]
                await asyncio.gather(*(h.result() for h in handles))
                durable_rate = args.tasks / (time.perf_counter() - start)
                await asyncio.gather(*readers)
                durable_most = model.most_in_flight

    print(f"{args.tasks} agent tasks, model limit {args.limit}, model latency {args.delay}s:")
    print(f"  plain pydantic-ai + asyncio.Semaphore: {plain_rate:7.1f} tasks/s, "
          f"most in flight {plain_most}")  # fmt: skip
    print(f"  agenthub AgentTask + Limiter:          {durable_rate:7.1f} tasks/s, "
          f"most in flight {durable_most}")  # fmt: skip
    print(f"  ratio agenthub/plain: {durable_rate / plain_rate:.2f}")
    p50, p95 = _pct(delays, 0.5) * 1000, _pct(delays, 0.95) * 1000
    print(f"event delivery to {args.readers} live readers ({len(delays)} events): "
          f"p50 {p50:.0f} ms, p95 {p95:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
