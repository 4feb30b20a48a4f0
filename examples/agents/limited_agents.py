"""Many agents, one model API limit: 12 agent tasks share a limiter of 2 requests in flight
against a local OpenAI-compatible server (started here), and one 429 pauses them all.

Runs offline: the model server is agenthub's test server on a loopback port.

    python examples/agents/limited_agents.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from agenthub import Settings
from agenthub.agents import AgentSpec, AgentsPlugin, LimiterSpec, limiter_stats, run_agent
from agenthub.agents.testing import ModelServer, serving

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_common.py
from _common import embedded_worker

TASK_QUEUE = "example-limited-agents"
SHARED = LimiterSpec("local-model", max_concurrent=2)


async def main() -> None:
    model = ModelServer(delay=0.1, failures=[(429, {"Retry-After": "1"})])
    async with serving(model):
        settings = Settings.from_env(openai_base_url=model.url)
        spec = AgentSpec(name="summarizer", model="openai:local", limiter=SHARED)
        plugin = AgentsPlugin(spec, settings=settings)
        async with embedded_worker(TASK_QUEUE, [], [], plugins=[plugin]) as (client, queue):
            results = await asyncio.gather(
                *(run_agent(client, "summarizer", f"text {i}", task_queue=queue) for i in range(12))
            )
            stats = await limiter_stats(client, SHARED.name)
    print(f"{len(results)} tasks finished; the model saw {model.requests} requests")
    print(
        f"most requests in flight at once: {model.most_in_flight} (limit {SHARED.max_concurrent})"
    )
    print(f"limiter: {stats.granted} permits granted, most held at once {stats.most_held}")


if __name__ == "__main__":
    asyncio.run(main())
