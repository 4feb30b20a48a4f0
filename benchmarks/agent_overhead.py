"""A durable agent task vs the same pydantic-ai agent run plainly (not durable), both against
the same local OpenAI-compatible model server, in the same run:

* added latency per model turn (p50, p95) of sequential two-turn tasks (a tool call, then
  the answer);
* tasks/s for N concurrent short tasks, and the ratio durable/plain;
* history bytes per turn of a durable task;
* CPU per task of each side during the concurrent run: the process that runs the agents
  (and the model server), and the Temporal server: what bounds the ratio on a small machine.

    .venv/bin/python -m benchmarks.agent_overhead --tasks 200 --sequential 30
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

from temporalio.client import Client

from agenthub.agents import AgentSpec, AgentsPlugin, start_agent_task, tool
from agenthub.agents.testing import ModelServer, serving
from agenthub.runtime import AgentHubPlugin, Settings
from agenthub.testing import running_worker
from benchmarks._common import embedded_server_process, process_cpu_seconds

TURNS = 2  # a tool call, then the answer


@tool
async def lookup(city: str) -> str:
    """Look a city up."""
    return f"{city}: sunny"


def _reply(body: dict[str, object]) -> dict[str, object]:
    from agenthub.agents.testing import answer, call_tools

    messages = body["messages"]
    assert isinstance(messages, list)
    if any(m.get("role") == "tool" for m in messages):
        return answer("Lisbon is sunny.")
    return call_tools(("lookup", {"city": "Lisbon"}))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=200, help="concurrent tasks per side")
    parser.add_argument("--sequential", type=int, default=30, help="tasks timed one by one")
    args = parser.parse_args()

    from pydantic_ai import Agent

    from agenthub.agents.spec import resolve_model

    async with serving(ModelServer(reply=_reply)) as model, embedded_server_process() as server:
        address = server.address
        with TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), openai_base_url=model.url)
            spec = AgentSpec(name="bench", model="openai:bench", tools=[lookup])
            plain = Agent(resolve_model("openai:bench", settings), tools=[lookup.function])
            plugins = [AgentHubPlugin(settings), AgentsPlugin(spec, settings=settings)]
            client = await Client.connect(address, plugins=plugins)
            async with running_worker(
                client, max_concurrent_activities=200, max_concurrent_workflow_tasks=200
            ) as queue:

                async def durable_task() -> str:
                    handle = await start_agent_task(
                        client, "bench", "Weather?", task_queue=queue,
                        task_id=f"bench-{uuid.uuid4().hex[:12]}",
                    )  # fmt: skip
                    return str((await handle.result()).output)

                async def plain_task() -> str:
                    return str((await plain.run("Weather?")).output)

                for _ in range(3):  # warm up both
                    await durable_task()
                    await plain_task()
                times: dict[str, list[float]] = {"plain": [], "durable": []}
                for _ in range(args.sequential):
                    for label, run in (("plain", plain_task), ("durable", durable_task)):
                        start = time.perf_counter()
                        assert await run() == "Lisbon is sunny."
                        times[label].append(time.perf_counter() - start)
                rates: dict[str, float] = {}
                cpu: dict[str, tuple[float, float]] = {}  # ms per task: this process, server
                for label, run in (("plain", plain_task), ("durable", durable_task)):
                    start, own, served = (
                        time.perf_counter(), time.process_time(), process_cpu_seconds(server.pid)
                    )  # fmt: skip
                    outputs = await asyncio.gather(*(run() for _ in range(args.tasks)))
                    assert outputs == ["Lisbon is sunny."] * args.tasks
                    rates[label] = args.tasks / (time.perf_counter() - start)
                    served_after = process_cpu_seconds(server.pid)
                    cpu[label] = (
                        (time.process_time() - own) / args.tasks * 1000,
                        ((served_after - served) / args.tasks * 1000)
                        if served is not None and served_after is not None else float("nan"),
                    )  # fmt: skip
                handle = await start_agent_task(client, "bench", "Weather?", task_queue=queue)
                await handle.result()
                history = sum(e.ByteSize() for e in (await handle.fetch_history()).events)

    print(f"two-turn tasks against a local model server ({args.sequential} sequential):")
    for label in ("plain", "durable"):
        p50, p95 = _pct(times[label], 0.5), _pct(times[label], 0.95)
        print(f"  {label:<8} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms per task")
    added = {
        name: (_pct(times["durable"], q) - _pct(times["plain"], q)) / TURNS * 1000
        for q, name in ((0.5, "p50"), (0.95, "p95"))
    }
    print(f"added per turn: p50 {added['p50']:.1f} ms, p95 {added['p95']:.1f} ms")
    print(f"  (target p50 < 30 ms, p95 < 60 ms; mean plain "
          f"{statistics.mean(times['plain']) * 1000:.1f} ms)")  # fmt: skip
    print(f"{args.tasks} concurrent tasks, tasks/s:")
    print(f"  plain    {rates['plain']:8.1f}")
    print(f"  durable  {rates['durable']:8.1f}")
    print(f"  ratio durable/plain: {rates['durable'] / rates['plain']:.2f}")
    # What bounds the ratio: CPU per task of the process running the agents (worker,
    # model client and the model server itself) and of the Temporal server.
    for label in ("plain", "durable"):
        own, served = cpu[label]
        print(f"  CPU per {label} task: {own:.1f} ms this process + {served:.1f} ms server")
    print(f"history of one durable task: {history} bytes, {history / TURNS:.0f} bytes per turn")


if __name__ == "__main__":
    asyncio.run(main())
