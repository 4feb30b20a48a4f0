"""The sandbox and its opt-out: agenthub's sandbox runner still isolates and restricts; a
workflow outside the sandbox runs only if its module passes `agenthub lint`; the refusal
names the workflow and the finding."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from typer.testing import CliRunner

from agenthub.cli import app
from agenthub.determinism.replay import replay_history_files, save_history
from agenthub.errors import ConfigurationError
from agenthub.runtime import Settings
from agenthub.runtime import sandbox as sandbox_module
from agenthub.runtime.sandbox import CompiledGlueSandboxRunner, sandboxed_runner
from agenthub.runtime.worker import build_worker
from agenthub.testing import running_worker

from . import sandbox_probe_workflows
from .saga_local_workflows import LocalStepSaga
from .sandbox_probe_workflows import SandboxProbe
from .unsandboxed_bad_workflows import ClockReadingUnsandboxed
from .unsandboxed_hidden_clock import HiddenClockUnsandboxed
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


async def test_without_the_sdks_private_glue_the_stock_sandbox_runs_after_one_warning(
    time_skipping_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A future SDK without workflow_sandbox._runner._Instance._run_code: same isolation,
    # same restrictions, the stock instance, one warning that says why.
    monkeypatch.setattr(sandbox_module, "GLUE_INSTANCE", None)
    monkeypatch.setattr(sandbox_module, "_warned_stock", False)
    client = time_skipping_env.client
    worker = build_worker(client, Settings(task_queue=f"stock-{uuid.uuid4()}"),
                          workflows=[SandboxProbe])  # fmt: skip
    async with worker:
        results = [
            await client.execute_workflow(
                SandboxProbe.run, id=f"probe-{uuid.uuid4()}", task_queue=worker.task_queue
            )
            for _ in range(2)
        ]
    assert results == [["runs seen by this import: 1", "RestrictedWorkflowAccessError"]] * 2
    warned = [r for r in caplog.records if "_Instance._run_code" in r.getMessage()]
    assert len(warned) == 1 and "SDK's own sandbox runner" in warned[0].getMessage()


def test_agenthub_imports_when_the_sdk_moved_its_sandbox_internals() -> None:
    probe = (
        "import temporalio.worker.workflow_sandbox._runner as r; del r._Instance; "
        "import agenthub, agenthub.runtime.sandbox as s; "
        "print(s.GLUE_INSTANCE is None, agenthub.AgentHubPlugin.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "AgentHubPlugin"]


def test_a_chosen_sandbox_subclass_is_kept() -> None:
    @dataclasses.dataclass(frozen=True)
    class MySandbox(SandboxedWorkflowRunner):
        pass

    runner = sandboxed_runner(base=MySandbox())
    assert type(runner) is MySandbox
    assert "agenthub" in runner.restrictions.passthrough_modules
    assert type(sandboxed_runner()) is CompiledGlueSandboxRunner


@pytest.fixture(scope="module")
async def opted_out_histories(
    time_skipping_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    # Both modules pass lint, so the worker runs them outside the sandbox; one of them
    # reads the clock through a helper module.
    client = time_skipping_env.client
    directory = tmp_path_factory.mktemp("optout")
    histories = {}
    async with running_worker(client, workflows=[HiddenClockUnsandboxed, CleanUnsandboxed]) as tq:
        for wf in (HiddenClockUnsandboxed, CleanUnsandboxed):
            handle = await client.start_workflow(
                wf.run,
                "ana",
                id=f"optout-{uuid.uuid4()}",
                task_queue=tq,  # type: ignore[attr-defined]
            )
            assert (await handle.result()).startswith("hello ana")
            histories[wf.__name__] = save_history(await handle.fetch_history(), directory)
    return histories


async def test_replay_runs_an_opted_out_workflow_in_the_sandbox(
    opted_out_histories: dict[str, Path],
) -> None:
    # In the sandbox (the default) the helper's clock read is refused; as deployed it passes.
    workflows = [HiddenClockUnsandboxed, CleanUnsandboxed]
    paths = list(opted_out_histories.values())
    reports = {r.workflow_type: r for r in await replay_history_files(paths, workflows)}
    hidden, clean = reports["HiddenClockUnsandboxed"], reports["CleanUnsandboxed"]
    assert clean.ok and not clean.skipped
    assert not hidden.ok
    assert hidden.error is not None
    assert hidden.error.startswith(
        "RestrictedWorkflowAccessError: Cannot access datetime.datetime.now.__call__"
    )
    assert "runs outside the sandbox" in hidden.error
    as_deployed = await replay_history_files(paths, workflows, in_sandbox=False)
    assert [r.ok for r in as_deployed] == [True, True]


def test_cli_replay_runs_an_opted_out_workflow_in_the_sandbox(
    opted_out_histories: dict[str, Path],
) -> None:
    runner = CliRunner()
    module = "tests.unsandboxed_hidden_clock:HiddenClockUnsandboxed"
    history = str(opted_out_histories["HiddenClockUnsandboxed"])
    refused = runner.invoke(app, ["replay", "-w", module, "-f", history])
    assert refused.exit_code == 1, refused.output
    assert "breaks: RestrictedWorkflowAccessError" in refused.output
    passed = runner.invoke(app, ["replay", "-w", module, "-f", history, "--as-deployed"])
    assert passed.exit_code == 0, passed.output


async def test_a_slow_workflow_module_is_named_at_start(
    time_skipping_env: WorkflowEnvironment,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every run pays the workflow module's import; the worker says so once, with the fix.
    # (The threshold is 0 here so that the test does not depend on this machine's speed; a
    # slow moment in an earlier test may have warned about this module already, and a
    # process warns once per module.)
    monkeypatch.setattr(sandbox_module, "_warned_modules", set())
    client = time_skipping_env.client
    silent = CompiledGlueSandboxRunner(slow_import_warning_ms=None)
    loud = CompiledGlueSandboxRunner(slow_import_warning_ms=0)
    with caplog.at_level("WARNING", logger="agenthub.runtime.plugin"):
        build_worker(client, workflows=[SandboxProbe], workflow_runner=silent, task_queue="q1")
        assert caplog.records == []
        for queue in ("q2", "q3"):
            build_worker(client, workflows=[SandboxProbe], workflow_runner=loud, task_queue=queue)
    (warning,) = caplog.records
    message = warning.getMessage()
    assert message.startswith(
        "workflow 'SandboxProbe': the sandbox imports its module "
        "tests.sandbox_probe_workflows afresh for every run, "
    )
    assert "(it defines 1 workflow(s), 0 other class(es), 0 function(s))" in message
    assert "imports_passed_through()" in message
