"""The tool of ``benchmarks.workers_scale``'s agent: a side effect with nothing to wait for."""

from __future__ import annotations

from agenthub.agents import tool


@tool(side_effect=True)
async def reserve(item: str) -> str:
    """Reserve an item."""
    return f"reserved {item}"
