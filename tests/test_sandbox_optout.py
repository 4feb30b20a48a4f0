"""The sandbox and its opt-out: agenthub's sandbox runner still isolates and restricts; a
workflow outside the sandbox runs only if its module passes `agenthub lint`; the refusal
names the workflow and the finding."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from agenthub.errors import ConfigurationError
from agenthub.runtime import Settings
from agenthub.runtime.plugin import CompiledGlueSandboxRunner, sandboxed_runner
from agenthub.runtime.worker import build_worker
from agenthub.testing import running_worker

from . import sandbox_probe_workflows
from .saga_local_workflows import LocalStepSaga
from .sandbox_probe_workflows import SandboxProbe
from .unsandboxed_bad_workflows import ClockReadingUnsandboxed
from .unsandboxed_workflows import CleanUnsandboxed


async def test_a_clean_workflow_runs_outside_the_sandbox(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    client = time_skipping_env.client
    async with running_worker(client, workflows=[CleanUnsandboxed]) as tq:
        result = await client.execute_workflow(
            CleanUnsandboxed.run, "ana", id=f"clean-{uuid.uuid4()}", task_queue=tq
        )
    assert result.startswith("hello ana at ")


async def test_a_non_deterministic_workflow_is_refused_outside_the_sandbox(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        build_worker(
            time_skipping_env.client, Settings(task_queue="optout"),
            workflows=[CleanUnsandboxed, ClockReadingUnsandboxed],
        )  # fmt: skip
    message = str(refused.value)
    assert "'ClockReadingUnsandboxed' runs outside the sandbox" in message
    assert "unsandboxed_bad_workflows.py:" in message and "time.time" in message


async def test_an_unsandboxed_runner_checks_every_workflow(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # A whole worker without the sandbox: every module is linted, and a clean one passes.
    build_worker(
        time_skipping_env.client, Settings(task_queue="optout-all"),
        workflows=[LocalStepSaga], workflow_runner=UnsandboxedWorkflowRunner(),
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match="ClockReadingUnsandboxed"):
        build_worker(
            time_skipping_env.client, Settings(task_queue="optout-all-2"),
            workflows=[ClockReadingUnsandboxed], workflow_runner=UnsandboxedWorkflowRunner(),
        )  # fmt: skip


async def test_the_default_sandbox_still_isolates_and_restricts(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # agenthub's runner compiles the SDK's glue code once; what the sandbox protects stays.
    client = time_skipping_env.client
    worker = build_worker(client, Settings(task_queue=f"probe-{uuid.uuid4()}"),
                          workflows=[SandboxProbe])  # fmt: skip
    assert type(worker.config(active_config=True)["workflow_runner"]) is CompiledGlueSandboxRunner
    async with worker:
        results = []
        for _ in range(3):
            results.append(
                await client.execute_workflow(
                    SandboxProbe.run, id=f"probe-{uuid.uuid4()}", task_queue=worker.task_queue
                )
            )
    assert results == [["runs seen by this import: 1", "RestrictedWorkflowAccessError"]] * 3
    assert SandboxProbe.__module__ == sandbox_probe_workflows.__name__
    assert sandbox_probe_workflows.RUNS == []  # the runs changed only their own imports


def test_a_chosen_sandbox_subclass_is_kept() -> None:
    @dataclasses.dataclass(frozen=True)
    class MySandbox(SandboxedWorkflowRunner):
        pass

    runner = sandboxed_runner(base=MySandbox())
    assert type(runner) is MySandbox
    assert "agenthub" in runner.restrictions.passthrough_modules
    assert type(sandboxed_runner()) is CompiledGlueSandboxRunner
