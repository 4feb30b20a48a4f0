"""Tools of the hub tests' agents, named by import path in their agenthub.toml: each
records what it did, so a test can tell an effect from its undo."""

from __future__ import annotations

import asyncio
import logging

from agenthub.agents import tool

RESERVED: list[str] = []
RELEASED: list[str] = []
PAID: list[int] = []
HOLDING = asyncio.Event()
LET_GO = asyncio.Event()


async def release(item: str) -> None:
    """Undo a reservation."""
    RELEASED.append(item)


@tool(side_effect=True, compensate=release)
async def reserve(item: str) -> str:
    """Reserve an item."""
    logging.getLogger("hub_tools").warning("reserving %s", item)  # a tool's own logger
    RESERVED.append(item)
    return f"reserved {item}"


async def hold(item: str) -> str:
    """Hold the line until the test lets go (the task is then cancelled meanwhile)."""
    HOLDING.set()
    await LET_GO.wait()
    return f"held {item}"


async def pay(amount: int) -> str:
    """Pay an amount (the agents file makes this wait for an approval)."""
    PAID.append(amount)
    return f"paid {amount}"


TOML = """
[agents.hub-quick]
instructions = "Reserve what is asked."
tools = ["tests.hub_tools:reserve"]

[agents.hub-holder]
tools = ["tests.hub_tools:reserve", "tests.hub_tools:hold"]

[agents.hub-cashier]
approvers = ["ana", "bob"]
tools = [{ use = "tests.hub_tools:pay", requires_approval = true, timeout = "30s" }]

[agents.hub-chat]
instructions = "Chat."

[teams.hub-team]
merger = "hub-chat"
members = [{ role = "booker", agent = "hub-quick" }, { role = "talker", agent = "hub-chat" }]
"""
