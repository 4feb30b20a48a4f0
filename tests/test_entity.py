"""Entity workflows on the real dev server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from agenthub.errors import InvalidInput
from agenthub.patterns.entity import EntityClient
from agenthub.testing import eventually, running_worker

from .entity_workflows import GATES, Account, Credit, EphemeralAccount, NappingAccount, pass_gate
from .procs import read_lines, worker_process

WORKFLOWS = [Account, NappingAccount, EphemeralAccount]


@pytest.fixture
async def tq(dev_server_env: WorkflowEnvironment):
    async with running_worker(
        dev_server_env.client,
        workflows=WORKFLOWS,
        activities=[pass_gate],
        max_concurrent_workflow_tasks=50,
    ) as task_queue:
        yield task_queue


async def test_ten_thousand_messages_none_lost_none_twice(
    dev_server_env: WorkflowEnvironment, tq: str
) -> None:
    client = dev_server_env.client
    accounts = EntityClient(client, Account, task_queue=tq)
    entity = f"acct-{uuid.uuid4().hex[:8]}"
    ids = [f"m-{i}" for i in range(10_000)]
    limit = asyncio.Semaphore(8)  # the server admits 10 in-flight updates per workflow

    async def send(message_id: str) -> int:
        async with limit:
            return await accounts.update(entity, Account.deposit, 1, message_id=message_id)

    await asyncio.gather(*(send(m) for m in ids))
    # Re-sending recent messages applies nothing (their ids are remembered across runs).
    await asyncio.gather(*(send(m) for m in ids[-500:]))
    info = await accounts.query(entity, Account.info)
    assert info.balance == 10_000 and info.applied == 10_000
    assert info.runs >= 5, "several continue-as-new runs"

    runs = [
        w async for w in client.list_workflows(f"WorkflowId = '{accounts.workflow_id(entity)}'")
    ]
    assert len(runs) == info.runs
    for run in runs:
        handle = client.get_workflow_handle(run.id, run_id=run.run_id)
        events = len((await handle.fetch_history()).events)
        assert events <= Account.config.max_history_events, f"run {run.run_id}: {events}"


async def test_message_sent_during_continue_as_new_is_applied(
    dev_server_env: WorkflowEnvironment, tq: str
) -> None:
    accounts = EntityClient(dev_server_env.client, Account, task_queue=tq)
    entity, gate = f"acct-{uuid.uuid4().hex[:8]}", f"gate-{uuid.uuid4().hex[:8]}"
    slow = asyncio.create_task(accounts.update(entity, Account.slow_deposit, 100, gate))
    await eventually(lambda: _in_handler(accounts, entity), what="slow deposit in flight")
    await accounts.handle(entity).signal(Account.rotate)  # drains: waits for the slow deposit
    during = asyncio.create_task(accounts.update(entity, Account.deposit, 5))
    await eventually(lambda: _rejected(accounts), what="a deposit turned away while draining")
    GATES[gate].set()
    assert await slow == 100
    assert await during == 105, "the deposit sent during the switch landed on the next run"
    info = await accounts.query(entity, Account.info)
    assert (info.balance, info.applied, info.runs) == (105, 2, 2)


async def test_resending_a_turned_away_message_leaves_no_unretrieved_errors(
    dev_server_env: WorkflowEnvironment, tq: str
) -> None:
    """Each turned-away send leaves a failed start operation behind; its error must be
    consumed, not reported by asyncio as "Future exception was never retrieved"."""
    import gc

    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
    try:
        accounts = EntityClient(dev_server_env.client, Account, task_queue=tq)
        entity, gate = f"acct-{uuid.uuid4().hex[:8]}", f"gate-{uuid.uuid4().hex[:8]}"
        slow = asyncio.create_task(accounts.update(entity, Account.slow_deposit, 100, gate))
        await eventually(lambda: _in_handler(accounts, entity), what="slow deposit in flight")
        # More in-flight updates than the server's cap of 10: the rest are refused and resent.
        burst = [
            asyncio.create_task(accounts.update(entity, Account.deposit, 1)) for _ in range(16)
        ]
        await eventually(lambda: _rejected(accounts), what="an update refused by the cap")
        GATES[gate].set()
        assert await slow == 100
        assert sorted(await asyncio.gather(*burst)) == list(range(101, 117))
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert not [m for m in reported if "never retrieved" in m], reported


async def _in_handler(accounts: EntityClient, entity: str) -> bool:
    try:
        return (await accounts.query(entity, Account.info)).max_in_handler == 1
    except Exception:
        return False  # not started yet


async def _rejected(accounts: EntityClient) -> bool:
    return accounts.retried > 0


async def test_concurrent_updates_are_serialized(
    dev_server_env: WorkflowEnvironment, tq: str
) -> None:
    accounts = EntityClient(dev_server_env.client, Account, task_queue=tq)
    entity = f"acct-{uuid.uuid4().hex[:8]}"
    results = await asyncio.gather(
        *(accounts.update(entity, Account.slow_deposit, 10, "") for _ in range(10))
    )
    assert sorted(results) == list(range(10, 101, 10))
    info = await accounts.query(entity, Account.info)
    assert info.balance == 100 and info.max_in_handler == 1


async def test_invalid_update_is_rejected_and_leaves_no_trace(
    dev_server_env: WorkflowEnvironment, tq: str
) -> None:
    accounts = EntityClient(dev_server_env.client, Account, task_queue=tq)
    entity = f"acct-{uuid.uuid4().hex[:8]}"
    await accounts.update(entity, Account.deposit, 50)
    handle = accounts.handle(entity)
    before = len((await handle.fetch_history()).events)
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await accounts.update(entity, Account.deposit, -5)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert "deposit must be a positive number of cents, got -5" in cause.message
    assert len((await handle.fetch_history()).events) == before, "rejection left no events"
    # A business rule is checked by the handler: the update fails, the state is unchanged.
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await accounts.update(entity, Account.withdraw, 80)
    assert info.value.cause.type == "BusinessRuleViolation"  # type: ignore[union-attr]
    assert (await accounts.query(entity, Account.info)).balance == 50


async def test_idle_entity_passivates_and_wakes_with_its_state(
    dev_server_env: WorkflowEnvironment, tq: str
) -> None:
    accounts = EntityClient(dev_server_env.client, NappingAccount, task_queue=tq)
    entity = f"acct-{uuid.uuid4().hex[:8]}"
    await accounts.update(entity, NappingAccount.deposit, 30)
    first_run = (await accounts.handle(entity).describe()).run_id

    async def napping() -> bool:
        info = await accounts.query(entity, NappingAccount.info)
        return info.passivated

    await eventually(napping, what="passivation")
    info = await accounts.query(entity, NappingAccount.info)
    assert info.balance == 30 and info.runs == 2
    assert info.history_length < 10, "the passivated run is minimal"
    assert (await accounts.handle(entity).describe()).run_id != first_run
    assert await accounts.update(entity, NappingAccount.deposit, 12) == 42


async def test_ephemeral_entity_completes_when_idle_and_is_recreated(
    dev_server_env: WorkflowEnvironment, tq: str
) -> None:
    accounts = EntityClient(dev_server_env.client, EphemeralAccount, task_queue=tq)
    entity = f"acct-{uuid.uuid4().hex[:8]}"
    await accounts.update(entity, EphemeralAccount.deposit, 30)
    handle = accounts.handle(entity)
    final = await handle.result()
    assert final.balance == 30
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    # The next message starts a new entity from its initial state.
    assert await accounts.update(entity, EphemeralAccount.deposit, 5) == 5


async def test_an_update_starts_the_entity_even_with_a_single_attempt(
    dev_server_env: WorkflowEnvironment, tq: str
) -> None:
    # The first message finds no run (a plain update gets NOT_FOUND) and starts the entity:
    # that switch is not a resend, so even attempts=1 delivers it, once.
    accounts = EntityClient(dev_server_env.client, Account, task_queue=tq)
    entity = f"acct-{uuid.uuid4().hex[:8]}"
    assert await accounts.update(entity, Account.deposit, 7, attempts=1, message_id="d-1") == 7
    assert await accounts.update(entity, Account.deposit, 7, attempts=1, message_id="d-1") == 7
    assert await accounts.update(entity, Account.deposit, 1, attempts=1) == 8
    assert accounts.retried == 0
    assert (await accounts.query(entity, Account.info)).applied == 2


async def test_signals_start_the_entity_and_dedupe_by_message_id(
    dev_server_env: WorkflowEnvironment, tq: str
) -> None:
    accounts = EntityClient(dev_server_env.client, Account, task_queue=tq)
    entity = f"acct-{uuid.uuid4().hex[:8]}"
    for message_id in ("c-1", "c-2", "c-1", "c-2", "c-3"):
        await accounts.signal(entity, Account.credit, Credit(10, message_id))
    # An update is serialized after the signals before it: it sees all of them.
    assert await accounts.update(entity, Account.deposit, 1) == 31
    assert (await accounts.query(entity, Account.info)).applied == 4


async def test_signal_with_a_message_id_starts_the_entity_and_applies_once(
    dev_server_env: WorkflowEnvironment, tq: str
) -> None:
    accounts = EntityClient(dev_server_env.client, Account, task_queue=tq)
    entity = f"acct-{uuid.uuid4().hex[:8]}"
    for message_id in ("b-1", "b-1", "b-2", "b-1"):  # the first one starts the entity
        await accounts.signal(entity, Account.bonus, 7, "grüße", message_id=message_id)
    assert await accounts.update(entity, Account.deposit, 1) == 15
    assert (await accounts.query(entity, Account.info)).applied == 3
    with pytest.raises(InvalidInput):
        await accounts.signal(entity, Account.bonus, 1, "x", message_id="")


def test_entity_client_rejects_non_entities(dev_server_env: WorkflowEnvironment) -> None:
    from agenthub.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="must be an Entity subclass"):
        EntityClient(dev_server_env.client, str, task_queue="x")  # type: ignore[arg-type]


async def test_worker_sigkill_mid_stream_loses_nothing(dev_server_env: WorkflowEnvironment) -> None:
    client = dev_server_env.client
    address = client.service_client.config.target_host
    tq = f"entity-crash-{uuid.uuid4().hex[:8]}"
    accounts = EntityClient(client, Account, task_queue=tq)
    entity = f"acct-{uuid.uuid4().hex[:8]}"
    done = 0
    hundred_done = asyncio.Event()
    limit = asyncio.Semaphore(8)

    async def send(i: int) -> None:
        nonlocal done
        async with limit:
            await accounts.update(entity, Account.deposit, 1, message_id=f"m-{i}")
        done += 1
        if done == 100:
            hundred_done.set()

    async with worker_process("tests.entity_worker", address, tq) as first:
        await read_lines(first, "WORKER_READY", 1)
        sends = asyncio.gather(*(send(i) for i in range(300)))
        await asyncio.wait_for(hundred_done.wait(), 60)
        first.kill()  # SIGKILL with messages in flight
    assert done < 300
    async with worker_process("tests.entity_worker", address, tq):
        await asyncio.wait_for(sends, 120)
        info = await accounts.query(entity, Account.info)
    assert (info.balance, info.applied) == (300, 300)
