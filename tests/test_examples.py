"""Every example runs as a user would run it, on its own embedded server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import free_port

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

ARGS = {"fan_out.py": ["--items", "2000"]}

EXPECTED = {
    "agents/trip_agent.py": [
        "waiting for approval: trip-planner: pay({'amount_eur': 420}) (task is "
        "waiting_for_approval)",
        "answer: Booked: hotel, car, paid 420 EUR.",
        "usage: 3 model requests, 3 tool calls",
        "task failed: PermanentFailure: no seats to Lisbon",
        "bookings compensated: 2 undone newest first",
        "  undo: car in Lisbon cancelled\n  undo: hotel in Lisbon cancelled",
    ],
    "agents/chat_session.py": [
        "turn 3: I remember 3: I land on Friday / I like museums / Plan Saturday",
        "resent m-2, answered once: turn 2: I remember 2: I land on Friday / I like museums",
        "transcript: 6 turns, 3 from you",
    ],
    "agents/team.py": [
        "food     failed: PermanentFailure: the food guide of Lisbon is offline",
        "Plan: flights: TAP at 9:05; hotels: Casa do Largo, 2 nights; food: (failed:",
        "usage: 3 model requests",
    ],
    "agents/limited_agents.py": [
        "12 tasks finished; the model saw 13 requests",
        "most requests in flight at once: 2 (limit 2)",
    ],
    "agents/research_agent.py": [
        "answer: Lisbon: sunny, 24 C; Oslo: snow, -3 C.",
        "  tool_result sunny, 24 C",
    ],
    "fan_out.py": ["scored 2000 items (0 failed), total score 99914,"],
    "bank_account.py": [
        "deposit 100 -> 100",
        "withdraw 30 -> 70",
        "refused: BusinessRuleViolation: overdraft: 500 requested, 70 available",
        "refused: InvalidInput: a deposit must be a positive number of cents, got -5",
        "balance: 75",
        "statement: +100 -30 +5",
    ],
    "trip_booking.py": [
        "trip failed: PermanentFailure: no seats to Lisbon",
        "saga compensated",
        "cancel_flight  done",
        "cancel_hotel   done",
        "cancel_car     done",
    ],
    "money_transfer.py": [
        "before: alice=100 bob=0",
        "transfer failed: PermanentFailure: account bob is closed",
        "after:  alice=100 bob=0; refund attempts: 2, refunds applied: 1",
    ],
}


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_example_runs(example: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AGENTHUB_DATA_DIR": str(tmp_path / "data"),
        "AGENTHUB_SERVER_PORT": str(free_port()),
        "AGENTHUB_UI": "false",
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / example), *ARGS.get(example, [])],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for line in EXPECTED[example]:
        assert line in result.stdout, f"{line!r} missing from:\n{result.stdout}"
