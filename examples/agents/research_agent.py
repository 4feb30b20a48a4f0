"""A research agent whose tools come from an MCP server (stdio), with a live status query.

Runs offline: the MCP server is ``weather_mcp.py`` beside this file, the model a scripted
stand-in. With a real model (``model="openai:..."``) the same agent decides for itself
which cities to look up.

    python examples/agents/research_agent.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agenthub.agents import AgentLimits, AgentSpec, AgentsPlugin, MCPServerSpec, run_agent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_common.py
from _common import embedded_worker

TASK_QUEUE = "example-research-agent"
WEATHER = Path(__file__).resolve().parent / "weather_mcp.py"


def compare_cities(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """A stand-in model: ask for two forecasts in parallel, then compare them."""
    seen: dict[str, Any] = {
        str(p.tool_call_id): p.content
        for m in messages
        for p in getattr(m, "parts", [])
        if isinstance(p, ToolReturnPart)
    }
    if not seen:
        return ModelResponse(
            parts=[
                ToolCallPart("forecast", {"city": "Lisbon"}, tool_call_id="lisbon"),
                ToolCallPart("forecast", {"city": "Oslo"}, tool_call_id="oslo"),
            ]
        )
    return ModelResponse(parts=[TextPart(f"Lisbon: {seen['lisbon']}; Oslo: {seen['oslo']}.")])


RESEARCHER = AgentSpec(
    name="researcher",
    instructions="Answer weather questions with the forecast tool.",
    model=FunctionModel(compare_cities),
    mcp_servers=[MCPServerSpec(id="weather", command=sys.executable, args=[str(WEATHER)])],
    limits=AgentLimits(max_requests=5),
)


async def main() -> None:
    async with embedded_worker(TASK_QUEUE, [], [], plugins=[AgentsPlugin(RESEARCHER)]) as (
        client,
        queue,
    ):
        result = await run_agent(client, "researcher", "Lisbon or Oslo tomorrow?", task_queue=queue)
        print(f"answer: {result.output}")
        for entry in result.transcript:
            print(f"  {entry.kind:<11} {entry.text}")


if __name__ == "__main__":
    asyncio.run(main())
