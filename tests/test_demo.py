"""`agenthub demo`, the README's first command, runs to completion on a fresh data dir."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import free_port
from .procs import wait_healthy

pytestmark = pytest.mark.slow


async def test_the_demo_runs_offline_and_shows_the_undo_and_the_approval(
    tmp_path: Path,
) -> None:
    api_port = free_port()
    env = {
        **os.environ,
        "AGENTHUB_DATA_DIR": str(tmp_path / "data"),
        "AGENTHUB_SERVER_PORT": str(free_port()),
        "AGENTHUB_API_PORT": str(api_port),
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
        "see its tasks in the console: `agenthub demo --console` here",
    ]
    for line in story:
        assert line in out, f"{line!r} missing from:\n{out}"
    # In the order things happened: the undos after the bookings and the flight's failure.
    positions = [out.index(line) for line in story]
    assert positions == sorted(positions), out
    assert "Traceback" not in out
    assert (tmp_path / "data" / "temporal.db").exists(), "the demo's data stays"
    assert f"then open http://127.0.0.1:{api_port}/" in out
    booking = re.search(r"(demo-booking-[0-9a-f]+)", out)
    assert booking is not None, out
    hint = f"agenthub tasks fork {booking.group(1)} --at 1 --redo-undone --instructions"
    assert hint in out, out

    # `agenthub demo --console`: the demo's tasks, closed, readable in the console.
    served = subprocess.Popen(
        [sys.executable, "-m", "agenthub", "demo", "--console"],
        env=env, cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{api_port}"
        await wait_healthy(url, "the console's API")
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            listed = (await http.get("/console/tasks")).text
            assert booking.group(1) in listed and "demo-payment-" in listed, listed
            page = await http.get(f"/console/tasks/{booking.group(1)}")
            assert page.status_code == 200 and "no seats left on TP1234" in page.text
            stream = (await http.get(f"/console/tasks/{booking.group(1)}/events")).text
            assert stream.count("undo book_") == 2 and "event: end" in stream, stream
        fork_and_evaluate(booking.group(1), env, tmp_path)
    finally:
        served.send_signal(signal.SIGINT)
        _, log = served.communicate(timeout=60)
    assert served.returncode == 0 and "Traceback" not in log, log


def fork_and_evaluate(booking: str, env: dict[str, str], folder: Path) -> None:
    """README "Fork and evaluate", as typed: export the demo's failed booking, check the
    file, fork it after the hotel with another flight (refused, then with --redo-undone)."""

    def agenthub(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agenthub", *args], env=env, cwd=folder,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    queue = ("--task-queue", "agenthub-demo")
    exported = agenthub("tasks", "export", booking, "-o", "booking.json", *queue)
    assert exported.returncode == 0, exported.stderr
    assert "2 steps, 3 tool calls" in exported.stdout + exported.stderr
    checked = agenthub("tasks", "import", "booking.json")
    assert checked.returncode == 0 and "valid booking.json" in checked.stdout + checked.stderr
    (folder / "broken.json").write_text('{"format": "agenthub.cassette", "version": 1}')
    broken = agenthub("tasks", "import", "broken.json")
    assert broken.returncode == 1 and "task_id: Field required" in broken.stdout + broken.stderr

    what_if = ("tasks", "fork", booking, "--at", "1", "--instructions", "Fly TP1352.", *queue)
    refused = agenthub(*what_if)
    said = refused.stdout + refused.stderr
    assert refused.returncode == 1 and "--redo-undone" in said and "Traceback" not in said
    forked = agenthub(*what_if, "--redo-undone", "--id", "booking-tp1352")
    said = forked.stdout + forked.stderr
    assert forked.returncode == 0, said
    for line in (
        f"forked booking-tp1352 from {booking}@1",
        "flight TP1352",
        "answer booked: hotel in Lisbon, 2 nights; car in Lisbon; flight TP1352",
    ):
        assert line in said, said
    assert "Traceback" not in said
