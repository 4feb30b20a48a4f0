"""Tools of the console tests' agents, run by an `agenthub up` in another process: each
effect is a line in the file named by ``AGENTHUB_TEST_EFFECTS``, so a test counts them."""

from __future__ import annotations

import os

from agenthub.agents import tool
from agenthub.errors import PermanentFailure

XSS = "<img src=x onerror=alert(1)>"


def _effect(line: str) -> None:
    with open(os.environ["AGENTHUB_TEST_EFFECTS"], "a", encoding="utf-8") as out:
        out.write(line + "\n")


async def pay(amount: int) -> str:
    """Pay an amount (the agents file makes it wait for an approval)."""
    _effect(f"paid {amount}")
    return f"paid {amount} EUR"


async def release(item: str) -> None:
    """Undo a reservation."""
    _effect(f"released {item}")


@tool(side_effect=True, compensate=release)
async def reserve(item: str) -> str:
    """Reserve an item."""
    _effect(f"reserved {item}")
    return f"reserved {item}"


async def book_flight(flight: str) -> str:
    """Book a flight: there are never seats left."""
    raise PermanentFailure(f"no seats left on {flight}")


async def shout() -> str:
    """Answer with markup that must show as text."""
    return XSS


TOML = """
[agents.console-cashier]
approvers = ["ana"]

[[agents.console-cashier.tools]]
use = "tests.console_tools:pay"
side_effect = true
requires_approval = true
timeout = "60s"

[agents.console-booker]
tools = ["tests.console_tools:reserve", "tests.console_tools:book_flight"]

[agents.console-echo]
tools = ["tests.console_tools:shout"]

[agents.console-chat]
instructions = "Chat."

[teams.console-team]
merger = "console-chat"
members = [{ role = "echo", agent = "console-echo" }, { role = "chat", agent = "console-chat" }]

[schedules.nightly]
agent = "console-echo"
goal = "Nightly report for {{ date }}"
cron = "0 3 * * *"
timezone = "Europe/Lisbon"

[webhooks.ping]
agent = "console-echo"
goal = "Answer the ping of {{ body.sender.login }}"
secret_env = "AGENTHUB_TEST_HOOK_SECRET"
delivery_header = "X-GitHub-Delivery"
"""

HOOK_SECRET = "ping-secret-0123456789"
