"""`agenthub demo`, the README's first command, runs to completion on a fresh data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import free_port

pytestmark = pytest.mark.slow


def test_the_demo_runs_offline_and_shows_the_undo_and_the_approval(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AGENTHUB_DATA_DIR": str(tmp_path / "data"),
        "AGENTHUB_SERVER_PORT": str(free_port()),
        "AGENTHUB_UI": "false",
        "COLUMNS": "80",
    }
    result = subprocess.run(
        [sys.executable, "-m", "agenthub", "demo"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    story = [
        "flights  TP1234 leaves at 9:05",
        "Plan: flights: TP1234 leaves at 9:05; hotels: Casa do Largo has rooms;",
        "tool_result car in Lisbon",
        "tool_call   book_flight",
        "undo        book_car(city='Lisbon'): done",
        "undo        book_hotel(city='Lisbon', nights=2): done",
        "booking failed: PermanentFailure: no seats left on TP1234",
        "bookings compensated: 2 undone",
        "waiting for approval: demo-cashier: pay({'amount_eur': 420})",
        "approved by demo",
        "paid 420 EUR",
        "browse them after the demo: `agenthub server` in this folder",
    ]
    for line in story:
        assert line in out, f"{line!r} missing from:\n{out}"
    # In the order things happened: the undos after the bookings and the flight's failure.
    positions = [out.index(line) for line in story]
    assert positions == sorted(positions), out
    assert "Traceback" not in out
    assert (tmp_path / "data" / "temporal.db").exists(), "the demo's data stays"
