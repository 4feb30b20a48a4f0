"""Upgrades with work in flight, on the server's Worker Deployment Versioning: a run that
waits for an approval, pinned to the build current when it started, finishes on that code
after a new build is promoted; new runs and agenthub's entities (the approval inbox, which
auto-upgrade) move to the new build; the hub pins each task it starts."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.common import PinnedVersioningOverride

from agenthub.agents.hub import HubTasks
from agenthub.cluster import promote
from agenthub.errors import ConfigurationError
from agenthub.patterns.approvals import decide, list_pending
from agenthub.runtime import Settings, build_worker
from agenthub.runtime.worker import current_version
from agenthub.testing import eventually

from .versioned_workflows import VersionOne, VersionTwo


async def _pending(client: Any, queue: str, workflow_id: str) -> Any:
    async def found() -> Any:
        pending = await list_pending(client, task_queue=queue)
        return next((p for p in pending if p.workflow_id == workflow_id), None)

    return await eventually(found, what=f"the approval of {workflow_id}")


async def test_a_waiting_run_finishes_on_its_build_after_a_new_one_is_promoted(
    dev_server_env: Any, tmp_path: Any
) -> None:
    client = dev_server_env.client
    queue = f"versioned-{uuid.uuid4().hex[:6]}"
    deployment = f"hub-{uuid.uuid4().hex[:6]}"

    def settings(build: str) -> Settings:
        return Settings(
            data_dir=tmp_path / build, deployment_name=deployment, build_id=build,
            payload_offload="false",
        )  # fmt: skip

    async def start_pinned(what: str, n: int) -> Any:
        version = await current_version(client, deployment)
        assert version is not None
        return await client.start_workflow(
            "agenthub-test.Versioned", what, id=f"v-{queue}-{n}", task_queue=queue,
            result_type=str, versioning_override=PinnedVersioningOverride(version),
        )  # fmt: skip

    assert await current_version(client, deployment) is None  # nothing promoted yet
    with pytest.raises(ConfigurationError, match="has polled"):
        await promote(client, deployment, "nobody-runs-this")
    async with build_worker(client, settings("b1"), workflows=[VersionOne], task_queue=queue):
        said = await promote(client, deployment, "b1")
        assert "b1" in said
        first = await start_pinned("pay 420", 1)
        waiting = await _pending(client, queue, first.id)
        async with build_worker(client, settings("b2"), workflows=[VersionTwo], task_queue=queue):
            said = await promote(client, deployment, "b2")
            assert "1 running workflow(s) pinned to older versions" in said, said

            async def promoted() -> bool:
                version = await current_version(client, deployment)
                return version is not None and version.build_id == "b2"

            await eventually(promoted, what="b2 as the current version")
            second = await start_pinned("pay 99", 2)
            later = await _pending(client, queue, second.id)
            # The inbox (an entity: auto-upgrade) serves both; each run decides on its build.
            await decide(client, waiting, approved=True, by="ana")
            await decide(client, later, approved=True, by="ana")
            assert await first.result() == "v1 approved pay 420"
            assert await second.result() == "v2 approved pay 99"
            # The hub pins each task it starts to the current build.
            tasks = HubTasks(client, task_queue=queue, deployment=deployment)
            started = await tasks.start("anyone", "a goal", task_id=f"pinned-{queue}")
            handle = client.get_workflow_handle(started.task.workflow_id)
            info = (await handle.describe()).raw_description.workflow_execution_info
            override = info.versioning_info.versioning_override
            assert override.pinned.version.build_id == "b2", info.versioning_info
            await handle.terminate()
