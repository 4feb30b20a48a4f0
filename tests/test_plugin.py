"""A plain temporalio Client and Worker with AgentHubPlugin run every pattern."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from agenthub import AgentHubPlugin, Settings
from agenthub.patterns import EntityClient
from agenthub.patterns.approvals import decide, list_pending
from agenthub.patterns.callbacks import complete_callback
from agenthub.testing import eventually, new_task_queue

from .plugin_workflows import (
    TOKENS,
    UNDONE,
    AskManager,
    Checkout,
    CounterEntity,
    SumOfSquares,
    WaitForPayment,
    charge,
    release,
    reserve,
    send_link,
    square,
)


@pytest.fixture
async def plain_client(dev_server_env: WorkflowEnvironment, tmp_path: Path) -> Client:
    settings = Settings(data_dir=tmp_path, callback_secret="plugin-test-secret-0123456789")
    address = dev_server_env.client.service_client.config.target_host
    return await Client.connect(address, plugins=[AgentHubPlugin(settings)])


async def test_a_plain_worker_runs_saga_entity_fanout_approval_and_callback(
    plain_client: Client,
) -> None:
    client, tq = plain_client, new_task_queue("plugin")
    worker = Worker(
        client,
        task_queue=tq,
        workflows=[Checkout, SumOfSquares, CounterEntity, AskManager, WaitForPayment],
        activities=[reserve, release, charge, square, send_link],
    )
    async with worker:
        # Saga: the charge fails, the reservation is released.
        item = f"book-{uuid.uuid4().hex[:6]}"
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(Checkout.run, item, id=item, task_queue=tq)
        assert item in UNDONE

        # Fan-out over 35 items in batches of 10: agenthub's FanOutBatch children run here.
        total = await client.execute_workflow(
            SumOfSquares.run, 35, id=f"squares-{uuid.uuid4()}", task_queue=tq
        )
        assert total == sum(i * i for i in range(35))

        # Entity, by update-with-start.
        counters = EntityClient(client, CounterEntity, task_queue=tq)
        name = uuid.uuid4().hex
        assert await counters.update(name, CounterEntity.add, 2) == 2
        assert await counters.update(name, CounterEntity.add, 3) == 5

        # Approval: the inbox of this queue runs on this worker.
        handle = await client.start_workflow(
            AskManager.run, "Refund 42 EUR", id=f"ask-{uuid.uuid4()}", task_queue=tq
        )

        async def registered():  # type: ignore[no-untyped-def]
            pending = await list_pending(client, task_queue=tq)
            return next((p for p in pending if p.workflow_id == handle.id), None)

        approval = await eventually(registered, what="approval in the inbox")
        await decide(client, approval, approved=True, by="ana")
        assert (await handle.result()).approved

        # Callback: the token was minted with the plugin's secret, no secret passed.
        payment = await client.start_workflow(
            WaitForPayment.run, id=f"pay-{uuid.uuid4()}", task_queue=tq
        )
        token = await eventually(
            lambda: _token(payment.id), what="callback token minted by the activity"
        )
        plugin = next(p for p in client.config()["plugins"] if isinstance(p, AgentHubPlugin))
        await complete_callback(client, token, 42, secrets=plugin.settings.callback_secrets())
        assert await payment.result() == "paid 42"


async def _token(workflow_id: str) -> str | None:
    return TOKENS.get(workflow_id)


async def test_plugin_registers_agenthub_workflows_once(plain_client: Client) -> None:
    worker = Worker(plain_client, task_queue="x", workflows=[Checkout], activities=[reserve])
    config = worker.config(active_config=True)
    names = [w.__name__ for w in config.get("workflows", [])]
    assert names.count("FanOutBatch") == 1 and "Checkout" in names
    assert config.get("activity_executor") is None  # no sync activity here


@pytest.mark.parametrize("eager", [True, False])
async def test_starts_are_eager_by_default_when_the_clients_worker_polls(
    dev_server_env: WorkflowEnvironment, tmp_path: Path, eager: bool
) -> None:
    settings = Settings(data_dir=tmp_path, payload_offload="false", eager_start=eager)
    address = dev_server_env.client.service_client.config.target_host
    client = await Client.connect(address, plugins=[AgentHubPlugin(settings)])
    tq = new_task_queue("eager")
    async with Worker(client, task_queue=tq, workflows=[SumOfSquares], activities=[square]):
        handle = await client.start_workflow(
            SumOfSquares.run, 3, id=f"eager-{uuid.uuid4()}", task_queue=tq
        )
        # The SDK marks a handle whose first workflow task came back with the start.
        assert getattr(handle, "__temporal_eagerly_started", None) is eager
        assert await handle.result() == 0 + 1 + 4


def test_the_agents_plugin_builds_pydantic_ais_message_schema_before_any_task() -> None:
    """Built lazily on first use, the schema took over 2 s inside a task's workflow code on
    a busy worker, and the SDK's deadlock detector failed that workflow task (TMPRL1101)."""
    import subprocess
    import sys

    probe = (
        "from pydantic_ai.messages import ModelMessagesTypeAdapter as A\n"
        "from pydantic._internal._mock_val_ser import MockValSer\n"
        "assert isinstance(A.__dict__.get('serializer'), MockValSer), 'built already?'\n"
        "from agenthub.agents import AgentSpec, AgentsPlugin\n"
        "AgentsPlugin(AgentSpec(name='probe'))\n"
        "assert not isinstance(A.__dict__.get('serializer'), MockValSer)\n"
        "assert not isinstance(A.__dict__.get('validator'), MockValSer)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
