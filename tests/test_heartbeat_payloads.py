"""Heartbeats that keep a quiet activity alive and deliver cancellation; payload offload and
the size guard (real dev server)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from agenthub.errors import PayloadTooLarge
from agenthub.runtime.settings import Settings
from agenthub.testing import running_worker

from .heartbeat_payload_workflows import (
    CANCEL_SEEN,
    FIVE_MB,
    STARTED,
    Echo,
    HeartbeatJobs,
    JoinParts,
    ReportJob,
    big_report,
    join_parts,
    quiet_then_done,
    wait_until_cancelled,
)


async def test_background_heartbeats_keep_a_quiet_activity_alive(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    async with running_worker(
        client, workflows=[HeartbeatJobs], activities=[quiet_then_done]
    ) as tq:
        attempt = await client.execute_workflow(
            HeartbeatJobs.run, "quiet", id=f"quiet-{uuid.uuid4()}", task_queue=tq
        )
    assert attempt == 1, "3 s without progress under a 1 s heartbeat timeout, first attempt"


async def test_cancellation_reaches_the_activity_promptly(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    wid = f"cancel-{uuid.uuid4()}"
    STARTED[wid], CANCEL_SEEN[wid] = asyncio.Event(), asyncio.Event()
    async with running_worker(
        client, workflows=[HeartbeatJobs], activities=[wait_until_cancelled]
    ) as tq:
        handle = await client.start_workflow(HeartbeatJobs.run, "cancel", id=wid, task_queue=tq)
        await asyncio.wait_for(STARTED[wid].wait(), 30)
        await handle.cancel()
        # Delivered with the next heartbeat response: well within the 2 s heartbeat timeout.
        await asyncio.wait_for(CANCEL_SEEN[wid].wait(), 10)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, CancelledError)


# --- payloads ----------------------------------------------------------------------------


@pytest.fixture
async def clients(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[Client, Client]]:
    """(offloading client, guarded client) on the dev server."""
    address = dev_server_env.client.service_client.config.target_host

    async def make(offload: str) -> Client:
        settings = Settings(data_dir=tmp_path, payload_offload=offload)
        return await Client.connect(address, data_converter=settings.data_converter(address))

    yield await make("true"), await make("false")


async def test_five_mb_result_is_offloaded_and_read_back(
    clients: tuple[Client, Client], tmp_path: Path
) -> None:
    client, _ = clients
    async with running_worker(client, workflows=[ReportJob], activities=[big_report]) as tq:
        handle = await client.start_workflow(
            ReportJob.run, FIVE_MB, id=f"report-{uuid.uuid4()}", task_queue=tq
        )
        length, digest, report = await handle.result()
    assert length == FIVE_MB
    assert digest == hashlib.sha256(b"x" * FIVE_MB).hexdigest()
    assert report.body == "x" * FIVE_MB and report.title == "weekly"
    history = await handle.fetch_history()
    assert max(e.ByteSize() for e in history.events) < 10_000, "only references in history"
    stored = list((tmp_path / "payloads").rglob("*"))
    assert any(p.is_file() and p.stat().st_size >= FIVE_MB for p in stored)


async def test_without_offload_a_big_payload_fails_clearly_and_once(
    clients: tuple[Client, Client],
) -> None:
    _, client = clients
    async with running_worker(client, workflows=[ReportJob], activities=[big_report]) as tq:
        handle = await client.start_workflow(
            ReportJob.run, FIVE_MB, id=f"report-{uuid.uuid4()}", task_queue=tq
        )
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, ActivityError)
    cause = info.value.cause.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PayloadTooLarge"
    assert cause.non_retryable
    assert "value #0 of type Report is 5.24 MB (largest field 'body': 5.24 MB)" in cause.message
    assert "over the 1.05 MB payload limit" in cause.message
    started = [
        e.activity_task_started_event_attributes.attempt
        for e in (await handle.fetch_history()).events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert started == [1], "not retried"


def test_guard_names_the_value_outside_temporal() -> None:
    settings = Settings(payload_offload="false", payload_limit=1000)
    converter = settings.data_converter("elsewhere:7233").payload_converter
    converter.to_payloads(["small"])
    with pytest.raises(PayloadTooLarge, match=r"value #1 of type dict is 2\.0 kB"):
        converter.to_payloads(["small", {"blob": "y" * 2000}])


async def test_the_local_driver_opens_only_plain_hash_references(tmp_path: Path) -> None:
    from temporalio.api.common.v1 import Payload
    from temporalio.converter import StorageDriverClaim

    from agenthub.runtime import LocalFileStorageDriver

    secret = tmp_path / "secret.txt"
    secret.write_text("not a payload")
    driver = LocalFileStorageDriver(tmp_path / "payloads")
    (claim,) = await driver.store(None, [Payload(data=b"hello")])  # type: ignore[arg-type]
    assert (await driver.retrieve(None, [claim]))[0].data == b"hello"  # type: ignore[arg-type]
    stored = next((tmp_path / "payloads").rglob("*"), None)
    assert stored is not None and (stored.stat().st_mode & 0o777) == 0o700
    for bad in ("../../secret.txt", "/etc/hostname", "A" * 64, "", 42):
        with pytest.raises(ValueError, match="is not a SHA-256 hash"):
            await driver.retrieve(None, [StorageDriverClaim({"sha256": bad})])  # type: ignore[arg-type,dict-item]


def test_guard_refuses_values_that_are_too_big_only_together() -> None:
    settings = Settings(payload_offload="false", payload_limit=1000)
    converter = settings.data_converter("elsewhere:7233").payload_converter
    converter.to_payloads(["a" * 400, "b" * 400])
    with pytest.raises(PayloadTooLarge, match=r"3 values are 1\.3 kB together \(#0 str 0\.4 kB"):
        converter.to_payloads(["a" * 400, "b" * 400, "c" * 400])


async def test_arguments_too_big_together_fail_the_workflow_instead_of_sticking(
    clients: tuple[Client, Client],
) -> None:
    _, client = clients
    async with running_worker(client, workflows=[JoinParts], activities=[join_parts]) as tq:
        handle = await client.start_workflow(
            JoinParts.run, 500_000, id=f"join-{uuid.uuid4()}", task_queue=tq
        )
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), timeout=30)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PayloadTooLarge"
    assert "3 values are 1.50 MB together" in cause.message


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("127.0.0.1:7233", "localhost:7233", True),
        ("[::1]:7233", "127.0.0.1:7233", True),
        ("LOCALHOST:7233", "localhost:7233", True),
        ("localhost:7233", "localhost:7234", False),
        ("10.0.0.5:7233", "127.0.0.1:7233", False),
        ("temporal.internal:7233", "temporal.internal:7233", True),
    ],
)
def test_auto_offload_treats_loopback_names_as_one_server(a: str, b: str, same: bool) -> None:
    settings = Settings(server_ip=a.rpartition(":")[0].strip("[]"), server_port=7233)
    assert settings.offloads_payloads(b) is (same and a.endswith(":7233"))


async def test_clients_reaching_one_server_by_other_names_read_each_others_payloads(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A worker reached as 127.0.0.1 offloads a 3 MB result; a client reached as ``localhost``
    reads it, and so does a client whose offloading is off; a ``localhost`` worker reads an
    offloaded argument."""
    port = dev_server_env.client.service_client.config.target_host.rpartition(":")[2]
    settings = Settings(data_dir=tmp_path, server_ip="127.0.0.1", server_port=int(port))

    async def make(host: str, **overrides: str) -> Client:
        address = f"{host}:{port}"
        s = settings.with_overrides(**overrides)
        return await Client.connect(address, data_converter=s.data_converter(address))

    by_ip, by_name = await make("127.0.0.1"), await make("localhost")
    not_offloading = await make("localhost", payload_offload="false")
    three_mb = 3 * 1024 * 1024
    async with running_worker(by_ip, workflows=[ReportJob], activities=[big_report]) as tq:
        handle = await by_ip.start_workflow(
            ReportJob.run, three_mb, id=f"report-{uuid.uuid4()}", task_queue=tq
        )
        await handle.result()
        for reader in (by_name, not_offloading):
            again = reader.get_workflow_handle_for(ReportJob.run, handle.id)
            length, _, report = await again.result()
            assert length == three_mb and report.body == "x" * three_mb
    async with running_worker(by_name, workflows=[JoinParts], activities=[join_parts]) as tq:
        # 3 x 400 kB each pass the offload threshold: the localhost worker must fetch them.
        total = await by_ip.execute_workflow(
            JoinParts.run, 400_000, id=f"join-{uuid.uuid4()}", task_queue=tq
        )
    assert total == 1_200_000


async def test_gc_deletes_only_payloads_no_history_references(
    clients: tuple[Client, Client], tmp_path: Path
) -> None:
    """A payload stored for a start the server refused is named by no history: gc deletes
    it once it is older than the grace, and keeps every payload a history names."""
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from agenthub.runtime.gc import collect_payload_garbage

    client, _ = clients
    payloads = tmp_path / "payloads"

    def files() -> set[str]:
        return {p.name for p in payloads.glob("??/*") if not p.name.startswith(".")}

    async with running_worker(client, workflows=[JoinParts], activities=[join_parts]) as tq:
        wid = f"gc-{uuid.uuid4()}"
        kept = await client.start_workflow(JoinParts.run, 400_321, id=wid, task_queue=tq)
        assert await kept.result() == 3 * 400_321
        referenced = files()
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(
                Echo.run, "z" * 300_017, id=wid, task_queue=tq,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )  # fmt: skip
    orphans = files() - referenced
    assert referenced and len(orphans) == 1, "the refused start left its argument behind"
    young = await collect_payload_garbage(client, payloads)  # default grace: 1 hour
    assert young.deleted == 0 and young.kept_young == len(referenced | orphans)
    dry = await collect_payload_garbage(client, payloads, grace=timedelta(0), dry_run=True)
    assert set(dry.deleted_hashes) == orphans and files() == referenced | orphans
    swept = await collect_payload_garbage(client, payloads, grace=timedelta(0))
    assert set(swept.deleted_hashes) == orphans and swept.kept_referenced == len(referenced)
    assert files() == referenced and swept.workflows >= 1
    # What is kept still reads back.
    assert await client.get_workflow_handle_for(JoinParts.run, wid).result() == 3 * 400_321


async def test_gc_command_reports_in_one_line(
    dev_server_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from agenthub.cli import app
    from agenthub.runtime import LocalFileStorageDriver

    orphan = LocalFileStorageDriver(tmp_path / "payloads")
    (claim,) = await orphan.store(None, [Payload(data=b"left behind")])  # type: ignore[arg-type]
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_server_env.client.service_client.config.target_host)
    monkeypatch.setenv("AGENTHUB_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    dry = await asyncio.to_thread(runner.invoke, app, ["gc", "--dry-run", "--grace", "0"])
    assert dry.exit_code == 0, dry.output
    assert "would delete 1 of 1 payload files" in dry.output
    swept = await asyncio.to_thread(runner.invoke, app, ["gc", "--grace", "0"])
    assert swept.exit_code == 0 and "deleted 1 of 1 payload files" in swept.output
    assert not list((tmp_path / "payloads").glob("??/*")), claim
    bad = await asyncio.to_thread(runner.invoke, app, ["gc", "--grace", "-1"])
    assert bad.exit_code == 2
