"""Run one agent task with tracing on (spans kept in memory) and print the spans as JSON
lines: ``python -m tests.otel_probe <temporal address>``. A process of its own, because a
tracer provider is global to a process."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agenthub.agents.config import load_hub_config
from agenthub.agents.hub import HubTasks
from agenthub.runtime import Settings
from agenthub.runtime.connect import connect
from agenthub.runtime.telemetry import start_tracing
from agenthub.runtime.worker import build_worker

AGENTS = '[agents.traced]\ntools = ["tests.hub_tools:reserve"]\n'


async def main(address: str) -> None:
    exporter = InMemorySpanExporter()
    data = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=data, payload_offload="false", task_queue=f"otel-{uuid.uuid4()}")
    start_tracing(settings, exporter=exporter)
    hub = load_hub_config(data / "agenthub.toml", settings, text=AGENTS)
    # connect() adds the SDK's OpenTelemetry plugin, since tracing is on in this process.
    client = await connect(settings, target_host=address, plugins=[hub.plugin(settings)])
    async with build_worker(client, settings):
        tasks = HubTasks(client, task_queue=settings.task_queue)
        started = await tasks.start("traced", "reserve a table", task_id="traced-1")
        await client.get_workflow_handle(started.task.workflow_id).result()
    for span in exporter.get_finished_spans():
        assert span.context is not None
        print(json.dumps({"name": span.name, "trace": f"{span.context.trace_id:032x}"}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
