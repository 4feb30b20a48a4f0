"""`agenthub run` in a real terminal (tmux, 80 columns) against a running `agenthub up` that
loaded agents from agenthub.toml: the live view, the answer, Ctrl-C that detaches while the
task goes on, and `tasks watch` that re-attaches to the end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import free_port, read_stderr_until

pytestmark = pytest.mark.slow

AGENTHUB = str(Path(sys.executable).parent / "agenthub")
# Each command ends with `echo "END""=$?"`: it prints END=<exit code>, and the typed command
# itself does not contain that text.

TOOLS = '''
import asyncio
from pathlib import Path


async def reserve(item: str) -> str:
    """Reserve an item."""
    return f"reserved {item}"


async def wait_for_go(item: str) -> str:
    """Wait until the file GO exists (the test creates it)."""
    while not Path("GO").exists():
        await asyncio.sleep(0.1)
    return f"went {item}"
'''

AGENTS = """
[agents.quick]
tools = ["terminal_tools:reserve"]

[agents.waiter]
tools = ["terminal_tools:wait_for_go"]

[teams.crew]
merger = "quick"
members = [{ role = "booker", agent = "quick" }, { role = "second", agent = "quick" }]
"""


class Terminal:
    """A tmux session of its own server, 80 columns wide, running bash."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.socket = f"agenthub-test-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        self._tmux("new-session", "-d", "-s", "t", "-x", "80", "-y", "50", "-c", str(cwd),
                   f"env {exports} COLUMNS=80 bash --norc --noprofile")  # fmt: skip

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def type(self, line: str) -> None:
        self._tmux("send-keys", "-t", "t", line, "Enter")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "t")

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 90) -> str:
        # The terminal's screen is the state: nothing else tells when a line has appeared.
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not appear; the screen:\n{screen}")
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def hub_up(tmp_path: Path) -> Iterator[dict[str, str]]:
    if shutil.which("tmux") is None:
        if os.environ.get("AGENTHUB_REQUIRE_TMUX"):
            pytest.fail("tmux is required here (AGENTHUB_REQUIRE_TMUX) but not installed")
        pytest.skip("tmux is not installed (apt-get install tmux)")
    (tmp_path / "terminal_tools.py").write_text(TOOLS)
    (tmp_path / "agenthub.toml").write_text(AGENTS)
    env = {
        "AGENTHUB_DATA_DIR": str(tmp_path / ".agenthub"),
        "AGENTHUB_SERVER_PORT": str(free_port()),
        "AGENTHUB_API_PORT": str(free_port()),
        "AGENTHUB_UI_PORT": str(free_port()),
        "AGENTHUB_METRICS_PORT": str(free_port()),
        "TEMPORAL_CONFIG_FILE": str(tmp_path / "none.toml"),
    }
    base = {k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"}
    up = subprocess.Popen(
        [sys.executable, "-m", "agenthub", "up", "--headless"],
        cwd=tmp_path, env={**base, **env}, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        started = read_stderr_until(up, "worker polling task queue 'agenthub'")
        assert "agenthub.toml" in started, started
        assert f"metrics http://127.0.0.1:{env['AGENTHUB_METRICS_PORT']}/metrics" in started
        yield env
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()


def test_run_shows_the_task_live_and_ctrl_c_detaches(
    hub_up: dict[str, str], tmp_path: Path
) -> None:
    terminal = Terminal(tmp_path, hub_up)
    try:
        terminal.type(
            f'{AGENTHUB} run quick \'Reserve a table für zwei\' --id t-quick; echo "END""=$?"'
        )
        screen = terminal.wait_for(lambda s: "END=" in s, "the end of `run quick`")
        assert "started task t-quick (quick)" in screen
        for shown in ("goal", "tool_call", "reserve(", "tool_result", "answer", "usage: 2"):
            assert shown in screen, screen
        assert "END=0" in screen and "Traceback" not in screen

        terminal.type(f'{AGENTHUB} run waiter \'wait for it\' --id t-wait; echo "END""=$?"')
        terminal.wait_for(lambda s: "wait_for_go(" in s, "the waiting tool call")
        terminal.keys("C-c")
        screen = terminal.wait_for(lambda s: s.count("END=") == 2, "the detach")
        assert "detached; task t-wait goes on" in screen and "agenthub tasks watch t-wait" in screen
        assert "END=130" in screen

        shown = subprocess.run(
            [AGENTHUB, "tasks", "show", "t-wait", "--json"], cwd=tmp_path,
            env={**os.environ, **hub_up}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["status"] == "running"  # detaching did not stop it

        terminal.type(f'{AGENTHUB} tasks watch t-wait; echo "END""=$?"')
        terminal.wait_for(lambda s: s.count("goal") >= 3, "the replayed events of t-wait")
        (tmp_path / "GO").write_text("")
        screen = terminal.wait_for(lambda s: s.count("END=") == 3, "the end of `tasks watch`")
        assert "went a" in screen and screen.count("END=0") == 2

        # A durable session in the terminal, resumed by its id.
        def chat(lines: str) -> str:
            done = subprocess.run(
                [AGENTHUB, "chat", "quick", "--session", "c-1"], input=lines, cwd=tmp_path,
                env={**os.environ, **hub_up}, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            return done.stdout + done.stderr

        first = chat("Réserve une table\n\n")
        assert "quick> " in first and "reserved" in first
        assert "resume: agenthub chat quick --session c-1" in first
        again = chat("")
        assert "user: Réserve une table" in again and "agent: " in again

        # A team, followed through its own event stream: a line per member, then the answer.
        crew = subprocess.run(
            [AGENTHUB, "run", "crew", "Plan a dinner", "--id", "t-crew"], cwd=tmp_path,
            env={**os.environ, **hub_up}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        shown = crew.stdout + crew.stderr  # the live view is on stderr, as progress is
        assert crew.returncode == 0, shown
        lines = shown.splitlines()
        kinds = [line.split(" ")[0] for line in lines if line and not line[0].isspace()]
        assert [k for k in kinds if k in ("goal", "member", "merge")] == [
            "goal", "member", "member", "merge"
        ], shown  # fmt: skip
        assert any(line.startswith("member") and "booker: " in line for line in lines), shown
        assert any(line.startswith("answer") for line in lines), shown

        # The worker's SDK metrics, as Prometheus reads them.
        url = f"http://127.0.0.1:{hub_up['AGENTHUB_METRICS_PORT']}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            metrics = response.read().decode()
        completed = [m for m in metrics.splitlines() if m.startswith("temporal_workflow_completed")]
        assert completed and any('workflow_type="agenthub.AgentTask"' in m for m in completed)
    finally:
        terminal.close()
