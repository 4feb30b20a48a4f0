"""Tools of the topology test's agent: what they do is counted outside agenthub, in
PostgreSQL, under each call's idempotency key (as a real API would dedupe on it)."""

from __future__ import annotations

import asyncio
import os

from agenthub.agents import idempotency_key, tool

REPORT_BYTES = 3 * 1024 * 1024
"""Past Temporal's 2 MB payload limit: the report and the transcripts carrying it travel by
reference through the payload store."""


def _record(table: str, key: str, item: str) -> None:
    import psycopg

    with psycopg.connect(os.environ["TOPOLOGY_EFFECTS_DSN"], autocommit=True) as db:
        db.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, item TEXT)")
        db.execute(f"INSERT INTO {table} VALUES (%s, %s) ON CONFLICT DO NOTHING", (key, item))


async def release(item: str) -> None:
    """Release a reservation."""
    await asyncio.to_thread(_record, "topo_released", idempotency_key(), item)


@tool(side_effect=True, compensate=release)
async def reserve(item: str) -> str:
    """Reserve an item."""
    await asyncio.to_thread(_record, "topo_reserved", idempotency_key(), item)
    return f"reserved {item}"


async def report(topic: str) -> str:
    """Write a long report on a topic."""
    return f"{topic}: " + "r" * REPORT_BYTES


async def pay(amount: int) -> str:
    """Pay (the agents file makes this wait for an approval)."""
    return f"paid {amount}"


TOML = """
[agents.topo]
instructions = "Reserve, report, pay."
approvers = ["ana"]
model_heartbeat_timeout = "5s"
tools = [
    "tests.topology_tools:reserve",
    { use = "tests.topology_tools:report", timeout = "10s" },
    { use = "tests.topology_tools:pay", requires_approval = true },
]

[agents.topo-lite]
instructions = "Reserve, pay."
approvers = ["ana"]
model_heartbeat_timeout = "5s"
tools = [
    "tests.topology_tools:reserve",
    { use = "tests.topology_tools:pay", requires_approval = true },
]
"""
