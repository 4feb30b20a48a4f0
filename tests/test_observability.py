"""Observability: one trace per task across client, workflow, activities and the agent's own
spans; tracing off by default; a tool's own log lines name their task."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from temporalio.testing import WorkflowEnvironment

from agenthub.runtime import Settings
from agenthub.runtime.telemetry import metrics_runtime, otlp_endpoint, tracing_plugins

from .procs import ROOT


async def test_a_task_is_one_trace_from_start_to_the_tool(
    dev_server_env: WorkflowEnvironment,
) -> None:
    address = dev_server_env.client.service_client.config.target_host
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.otel_probe", address, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(probe.communicate(), 120)
    assert probe.returncode == 0, err.decode()[-3000:]
    spans = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    names = {s["name"] for s in spans}
    for expected in [
        "StartWorkflow:agenthub.AgentTask",  # the client's start
        "RunWorkflow:agenthub.AgentTask",  # the workflow
        "RunActivity:agent__traced__model_request",  # a model request as an activity
        "RunActivity:agent__traced__toolset__traced-tools__call_tool",  # the tool call
        "invoke_agent traced",  # pydantic-ai's own spans, inside the workflow
        "execute_tool reserve",
    ]:
        assert expected in names, sorted(names)
    assert len({s["trace"] for s in spans}) == 1  # one trace for the whole task


@pytest.mark.fast
def test_tracing_and_metrics_are_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    settings = Settings()
    assert otlp_endpoint(settings) == "" and tracing_plugins(settings) == []
    assert metrics_runtime(settings) is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert otlp_endpoint(Settings()) == "http://collector:4318"
    assert otlp_endpoint(Settings(otlp_endpoint="http://mine:4318")) == "http://mine:4318"
