"""The pytest fixtures agenthub ships run real servers from the pip-installed binaries."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment

from agenthub.runtime.health import check_worker
from agenthub.testing import running_worker


@workflow.defn
class SleepsAWeek:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(days=7))
        return "woke"


async def test_time_skipping_env_skips_a_week(time_skipping_env: WorkflowEnvironment) -> None:
    client = time_skipping_env.client
    async with running_worker(client, workflows=[SleepsAWeek]) as task_queue:
        before = await time_skipping_env.get_current_time()
        result = await client.execute_workflow(
            SleepsAWeek.run, id="sleeps-a-week", task_queue=task_queue
        )
        after = await time_skipping_env.get_current_time()
    assert result == "woke"
    assert after - before >= timedelta(days=7)


async def test_dev_server_env_runs_the_package_registrations(
    dev_server_env: WorkflowEnvironment,
) -> None:
    async with running_worker(dev_server_env.client) as task_queue:
        result = await check_worker(dev_server_env.client, task_queue)
    assert result.activity_host
    assert result.round_trip_ms > 0
