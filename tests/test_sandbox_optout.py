"""The sandbox opt-out: a workflow outside the sandbox runs only if its module passes
`agenthub lint`; the refusal names the workflow and the finding."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner

from agenthub.errors import ConfigurationError
from agenthub.runtime import Settings
from agenthub.runtime.worker import build_worker
from agenthub.testing import running_worker

from .saga_local_workflows import LocalStepSaga
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
