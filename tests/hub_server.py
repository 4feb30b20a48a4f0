"""The hub over real HTTP (uvicorn on a port) against the dev server, with the agents of
``hub_tools.TOML``: the ``hub`` fixture and helpers shared by the hub's API tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from agenthub.agents.config import load_hub_config
from agenthub.api import create_app
from agenthub.runtime import AgentHubPlugin, ApiTokenStore, Settings
from agenthub.testing import eventually, running_worker

from . import hub_tools
from .callback_workflows import SECRET, AwaitsCallbacks, deliver_token
from .conftest import free_port


@dataclass
class Hub:
    url: str
    client: Client
    task_queue: str
    ana: dict[str, str]
    """Authorization of ana, tenant acme (an approver)."""
    bob: dict[str, str]
    """Authorization of bob, tenant globex."""
    revoked: dict[str, str]
    shared: Any = None
    """The API's SharedEvents (one subscription per task for all readers)."""


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # pytest owns the signals


@contextlib.asynccontextmanager
async def serve_hub(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Hub]:
    root = tmp_path_factory.mktemp("hub")
    (root / "agenthub.toml").write_text(hub_tools.TOML)
    settings = Settings(data_dir=root / ".agenthub", payload_offload="false")
    config = load_hub_config(root / "agenthub.toml", settings)
    address = dev_server_env.client.service_client.config.target_host
    client = await Client.connect(
        address, plugins=[AgentHubPlugin(settings), config.plugin(settings)]
    )
    store = ApiTokenStore(root / "api-tokens.json")
    ana, _ = store.create(identity="ana", tenant="acme")
    bob, _ = store.create(identity="bob", tenant="globex")
    revoked, record = store.create(identity="eve", tenant="acme")
    store.revoke(record.token_id)
    async with running_worker(
        client, workflows=[AwaitsCallbacks], activities=[deliver_token]
    ) as tq:
        app = create_app(
            client, secrets=[SECRET], task_queue=tq, tokens=store, ui_url="http://ui.example"
        )
        port = free_port()
        server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        serving = asyncio.ensure_future(server.serve())

        async def started() -> bool:
            return server.started

        await eventually(started, what="the API server's start")
        try:
            yield Hub(
                f"http://127.0.0.1:{port}", client, tq, bearer(ana), bearer(bob), bearer(revoked),
                app.state.hub.shared_events,
            )  # fmt: skip
        finally:
            server.should_exit = True
            await serving


async def read_sse(http: httpx.AsyncClient, url: str, **headers: str) -> list[dict[str, Any]]:
    """Every event of an SSE response until its ``end`` event, as dicts."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with http.stream("GET", url, headers=headers, timeout=60) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if current:
                    events.append(current)
                    if current.get("event") == "end":
                        return events
                current = {}
                continue
            field, _, value = line.partition(": ")
            if field == "data":
                current["data"] = json.loads(value)
            elif field in ("id", "event"):
                current[field] = value
    return events


async def workflow_status(client: Client, workflow_id: str) -> WorkflowExecutionStatus | None:
    try:
        return (await client.get_workflow_handle(workflow_id).describe()).status
    except RPCError as err:
        assert err.status == RPCStatusCode.NOT_FOUND
        return None
