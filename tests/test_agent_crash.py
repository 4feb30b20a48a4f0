"""A worker SIGKILLed between a side-effecting tool call and the report of its completion:
the task resumes on another worker without repeating the model request or the effect."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from agenthub.agents import limiter_stats, start_agent_task
from agenthub.agents.testing import ModelServer, call_tools, serving
from agenthub.testing import eventually

from .procs import read_lines, worker_process

pytestmark = pytest.mark.slow


def reply(body):
    results = [m["content"] for m in body["messages"] if m.get("role") == "tool"]
    if results:
        return {"role": "assistant", "content": "done: " + " | ".join(results)}
    return call_tools(("charge", {"amount": 42}))


async def test_sigkill_after_a_tool_acted_repeats_neither_model_nor_effect(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_server_env.client
    address = client.service_client.config.target_host
    queue = f"agent-crash-{uuid.uuid4().hex[:8]}"
    async with serving(ModelServer(reply=reply)) as model:
        args = (address, queue, model.url, str(tmp_path))
        async with worker_process("tests.agent_crash_worker", *args, "hold") as first:
            await read_lines(first, "READY", 1)
            handle = await start_agent_task(client, "crashy", "Charge 42", task_queue=queue)
            await read_lines(first, "TOOL_RECORDED", 1)
            first.kill()  # SIGKILL: the tool acted, its completion never reached the server
            await first.wait()
        async with worker_process("tests.agent_crash_worker", *args) as second:
            await read_lines(second, "READY", 1)
            result = await asyncio.wait_for(handle.result(), 60)
    assert result.output == "done: charged 42"
    assert model.requests == 2, "the first model request was not repeated"
    assert (tmp_path / "effects").read_text() == "charged 42\n", "the effect happened once"
    ledger = sqlite3.connect(tmp_path / "ledger.db")
    keys = [k for (k,) in ledger.execute("SELECT key FROM agenthub_ledger") if "crashy.charge" in k]
    assert len(keys) == 1 and keys[0].startswith(f"{handle.id}/")
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in (await handle.fetch_history()).events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert max(attempts) == 2, "the tool call was retried after the crash"


async def test_sigkill_while_a_permit_is_held_loses_no_permit(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Permits belong to the durable task, not to the worker process: the task resumes on
    another worker, its model request is retried there and the permit comes back."""
    client = dev_server_env.client
    address = client.service_client.config.target_host
    queue = f"limit-crash-{uuid.uuid4().hex[:8]}"
    model = ModelServer(delay=60)  # the first request hangs until the worker is killed
    async with serving(model):
        args = (address, queue, model.url, str(tmp_path))
        async with worker_process("tests.agent_crash_worker", *args) as first:
            await read_lines(first, "READY", 1)
            handles = [
                await start_agent_task(client, "crashy-limited", f"t{i}", task_queue=queue)
                for i in range(2)
            ]

            async def holding() -> bool:
                return model.in_flight == 1

            await eventually(holding, what="a model request holding the only permit")
            first.kill()
            await first.wait()
        model.delay = 0
        async with worker_process("tests.agent_crash_worker", *args) as second:
            await read_lines(second, "READY", 1)
            outputs = [await asyncio.wait_for(h.result(), 90) for h in handles]
            stats = await limiter_stats(client, "crash-test-model")
    assert all(o.output.startswith("answer:") for o in outputs)
    assert (stats.granted, stats.held, stats.most_held) == (2, 0, 1)
