"""`agenthub up` beside user code: every example runs against it at once, nothing is stolen.

`up` polls agenthub's own task queue; each example runs its own worker on its own queue on
the same server. A worker that polled a queue without the workflows and activities started
there would fail tasks with "not registered" (slow retries, or wrong fan-out results).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import free_port, read_stderr_until
from .test_examples import ARGS, EXAMPLES, EXPECTED

pytestmark = pytest.mark.slow


def test_every_example_runs_beside_agenthub_up(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "AGENTHUB_DATA_DIR": str(tmp_path / "data"),
        "AGENTHUB_SERVER_PORT": str(port),
        "AGENTHUB_API_PORT": str(free_port()),
        "AGENTHUB_UI": "false",
        "TEMPORAL_CONFIG_FILE": str(tmp_path / "none.toml"),
    }
    env.pop("TEMPORAL_ADDRESS", None)
    up = subprocess.Popen(
        [sys.executable, "-m", "agenthub", "up"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        started = read_stderr_until(up, "worker polling task queue 'agenthub'")
        examples = {
            name: subprocess.Popen(
                [sys.executable, str(EXAMPLES / name), *ARGS.get(name, [])],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in sorted(EXPECTED)
        }
        outputs = {name: p.communicate(timeout=240) for name, p in examples.items()}
        up.send_signal(signal.SIGINT)
        _, up_rest = up.communicate(timeout=60)
    finally:
        up.kill()
        for p in locals().get("examples", {}).values():
            p.kill()
    up_log = started + up_rest
    for name, (stdout, stderr) in outputs.items():
        assert examples[name].returncode == 0, f"{name} failed:\n{stderr[-3000:]}"
        for line in EXPECTED[name]:
            assert line in stdout, f"{name}: {line!r} missing from:\n{stdout}"
        assert "not registered" not in stdout + stderr, f"{name}:\n{stderr[-3000:]}"
    assert up.returncode == 0, up_log
    assert "not registered" not in up_log and "Traceback" not in up_log, up_log
