"""How soon a side-effect tool call goes on after its worker is SIGKILLed.

A worker process runs an agent whose ``@tool(side_effect=True, timeout=60s)`` charges once;
it is killed (1) inside the call, after the effect, while the call's ledger claim is held,
and (2) after the call returned, before its completion reached the server. A second worker
is started at once; the figure is the time from the kill to the task's answer.

The baseline, in the same run, is the tool's ``timeout``: when the server learns of a dead
attempt only from its start-to-close timeout (no heartbeat), the retry waits that long, and
a claim leased for the timeout + 30 s (as before) made it wait longer still.

    python -m benchmarks.agent_recovery [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from agenthub.agents import start_agent_task
from agenthub.agents.testing import ModelServer, call_tools, serving
from agenthub.runtime.server import find_binary
from tests.procs import read_lines, worker_process

TOOL_TIMEOUT = 60.0


def reply(body: dict) -> dict:
    results = [m["content"] for m in body["messages"] if m.get("role") == "tool"]
    if results:
        return {"role": "assistant", "content": "done: " + " | ".join(results)}
    return call_tools(("charge", {"amount": 42}))


async def one(env: WorkflowEnvironment, model_url: str, mode: str) -> float:
    address = env.client.service_client.config.target_host
    queue = f"recovery-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as data:
        args = (address, queue, model_url, data)
        marker = "TOOL_ACTING" if mode == "hold-in-tool" else "TOOL_RECORDED"
        async with worker_process("tests.agent_crash_worker", *args, mode) as first:
            await read_lines(first, "READY", 1)
            handle = await start_agent_task(env.client, "crashy", "Charge 42", task_queue=queue)
            await read_lines(first, marker, 1)
            first.kill()
            killed = time.monotonic()
            await first.wait()
        async with worker_process("tests.agent_crash_worker", *args) as second:
            await read_lines(second, "READY", 1)
            result = await asyncio.wait_for(handle.result(), TOOL_TIMEOUT * 3)
        elapsed = time.monotonic() - killed
        effects = (Path(data) / "effects").read_text().splitlines()
    assert result.output == "done: charged 42", result.output
    assert effects == ["charged 42"] * (2 if mode == "hold-in-tool" else 1), effects
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    import os

    os.environ["CRASH_TOOL_TIMEOUT"] = str(TOOL_TIMEOUT)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_binary("temporal"))
    )
    try:
        async with serving(ModelServer(reply=reply)) as model:
            for mode, what in (
                ("hold-in-tool", "killed inside the call (claim held)"),
                ("hold", "killed after the call, before its completion"),
            ):
                times = [await one(env, model.url, mode) for _ in range(rounds)]
                median = statistics.median(times)
                print(
                    f"{what}: kill -> answer median {median:.1f} s "
                    f"(runs {', '.join(f'{t:.1f}' for t in times)}); baseline tool timeout "
                    f"{TOOL_TIMEOUT:.0f} s; ratio {median / TOOL_TIMEOUT:.2f}"
                )
    finally:
        await env.shutdown()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
