"""Upgrades with work in flight, on the server's Worker Deployment Versioning: a run that
waits for an approval finishes on the code it started on after a new build is promoted;
new runs and agenthub's entities (the approval inbox) move to the new build."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agenthub.cluster import promote
from agenthub.errors import ConfigurationError
from agenthub.patterns.approvals import decide, list_pending
from agenthub.runtime import Settings, build_worker
from agenthub.testing import eventually

from .versioned_workflows import VersionOne, VersionTwo


async def _pending(client: Any, queue: str, workflow_id: str) -> Any:
    async def found() -> Any:
        return next(
            (
                p
                for p in await list_pending(client, task_queue=queue)
                if p.workflow_id == workflow_id
            ),
            None,
        )

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

    with pytest.raises(ConfigurationError, match="has polled"):
        await promote(client, deployment, "nobody-runs-this")
    async with build_worker(client, settings("b1"), workflows=[VersionOne], task_queue=queue):
        said = await promote(client, deployment, "b1")
        assert "b1" in said
        first = await client.start_workflow(
            "agenthub-test.Versioned", "pay 420", id=f"v-{queue}-1", task_queue=queue,
            result_type=str,
        )  # fmt: skip
        waiting = await _pending(client, queue, first.id)
        async with build_worker(client, settings("b2"), workflows=[VersionTwo], task_queue=queue):
            said = await promote(client, deployment, "b2")
            assert "1 running workflow(s) pinned to older versions" in said, said
            second = await client.start_workflow(
                "agenthub-test.Versioned", "pay 99", id=f"v-{queue}-2", task_queue=queue,
                result_type=str,
            )  # fmt: skip
            later = await _pending(client, queue, second.id)
            # The inbox (an entity: auto-upgrade) serves both; each run decides on its build.
            await decide(client, waiting, approved=True, by="ana")
            await decide(client, later, approved=True, by="ana")
            assert await first.result() == "v1 approved pay 420"
            assert await second.result() == "v2 approved pay 99"
