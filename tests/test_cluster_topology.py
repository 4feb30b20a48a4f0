"""A hub on several machines, played by processes on this one: a Temporal dev server started
on its own with the namespace ``prod``, an S3-compatible server (moto, real S3 over HTTP) for
payloads, PostgreSQL for the ledger and the API tokens, two ``agenthub worker`` processes and
two ``agenthub api`` replicas, each with an empty data dir of its own.

Agent tasks reserve (a compensated side effect, counted in PostgreSQL under its idempotency
key), write a 3 MB report and pay after an approval. One worker and one API replica are
SIGKILLed while the tasks run; a task started through replica A is approved through replica
B with a token created on A's machine; a third are cancelled (their reservation undone once);
a token revoked on B is refused by a restarted A."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agenthub.runtime.server import find_binary
from agenthub.testing import eventually

from . import postgres, topology_tools
from .conftest import free_port
from .procs import ROOT
from .s3 import s3_client, s3_server

pytestmark = pytest.mark.slow

TASKS = 12


def listed_variables() -> dict[str, str]:
    """The shared settings of deploy/hub.env, as the deployment guide lists them."""
    listing = (ROOT / "deploy" / "hub.env").read_text(encoding="utf-8")
    pairs = [line.split("=", 1) for line in listing.splitlines() if "=" in line]
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def role_environment(shared: dict[str, str], data_dir: Path, **extra: str) -> dict[str, str]:
    """What a role's machine is given: the shared settings, and a data dir of its own."""
    return {**os.environ, **shared, "AGENTHUB_DATA_DIR": str(data_dir), **extra}


@contextlib.contextmanager
def temporal_server(namespace: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [str(find_binary("temporal")), "server", "start-dev", "--headless",
         "--ip", "127.0.0.1", "--port", str(port), "--namespace", namespace,
         "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


@contextlib.asynccontextmanager
async def role(*args: str, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """``agenthub ARGS`` as a machine runs it; its output goes to ``<data dir>.log``."""
    log = Path(env["AGENTHUB_DATA_DIR"] + ".log")
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agenthub", *args, cwd=ROOT, env=env, stdout=out, stderr=out
        )
    process.log = log  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def wait_for_line(process: asyncio.subprocess.Process, text: str) -> None:
    log: Path = process.log  # type: ignore[attr-defined]

    async def said() -> bool:
        if process.returncode is not None:
            raise AssertionError(f"it exited before {text!r}: {log.read_text()[-2000:]}")
        return text in log.read_text(errors="replace")

    await eventually(said, timeout=60, what=f"{text!r} in {log.name}")


async def serving(port: int) -> None:
    async def healthy() -> bool:
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(healthy, timeout=60, what=f"the API on port {port}")


def effects(dsn: str, table: str) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, item TEXT)")
        return [tuple(row) for row in db.execute(f"SELECT key, item FROM {table}").fetchall()]


@pytest.fixture
def shared_services(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    reason = postgres.unavailable_reason()
    if reason:
        pytest.skip(reason)
    with (
        temporal_server("prod") as address,
        s3_server("hub") as s3,
        postgres.postgres_server() as dsn,
    ):
        yield address, s3, dsn


async def test_a_hub_on_several_machines_loses_nothing_when_a_worker_and_an_api_die(
    shared_services: tuple[str, str, str], tmp_path: Path
) -> None:
    address, s3, dsn = shared_services
    (tmp_path / "agenthub.toml").write_text(topology_tools.TOML)
    (tmp_path / "secret").write_text("topology-secret-" + uuid.uuid4().hex)
    # The variables of deploy/hub.env (the deployment guide's listing), with this machine's
    # values: the guide and the test cannot name different settings.
    local = {
        "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "prod",
        "AGENTHUB_TASK_QUEUE": "topology", "AGENTHUB_CONFIG": str(tmp_path / "agenthub.toml"),
        "AGENTHUB_PAYLOAD_STORE": "s3://hub/topology", "AWS_ENDPOINT_URL": s3,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
        "AGENTHUB_LEDGER": dsn, "AGENTHUB_CALLBACK_SECRET_FILE": str(tmp_path / "secret"),
    }  # fmt: skip
    assert set(local) == set(listed_variables()), "deploy/hub.env names other settings"
    shared = {**local, "TOPOLOGY_EFFECTS_DSN": dsn, "COLUMNS": "200"}
    ports = {"a": free_port(), "b": free_port()}

    def api_env(name: str) -> dict[str, str]:
        return role_environment(
            shared, tmp_path / f"api-{name}", AGENTHUB_API_PORT=str(ports[name])
        )

    # A token made on replica A's machine (it lands in the shared database).
    created = subprocess.run(
        [sys.executable, "-m", "agenthub", "token", "create", "--identity", "ana",
         "--tenant", "acme"],
        cwd=ROOT, env=api_env("a"), capture_output=True, text=True, check=True,
    )  # fmt: skip
    token = created.stdout.strip().splitlines()[-1]
    auth = {"authorization": f"Bearer {token}"}
    async with (
        role("worker", env=role_environment(shared, tmp_path / "worker-1")) as worker_1,
        role("worker", env=role_environment(shared, tmp_path / "worker-2")) as worker_2,
        role("api", env=api_env("a")) as api_a,
        role("api", env=api_env("b")) as api_b,
    ):
        for process, text in ((worker_1, "polling"), (worker_2, "polling")):
            await wait_for_line(process, text)
        for name, process in (("a", api_a), ("b", api_b)):
            await wait_for_line(process, "HTTP API")
            await serving(ports[name])
        a = httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['a']}", headers=auth, timeout=60)
        b = httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['b']}", headers=auth, timeout=60)
        ids = [f"topo-{i}-{uuid.uuid4().hex[:6]}" for i in range(TASKS)]
        for i, task_id in enumerate(ids):
            via = a if i % 2 == 0 else b
            body = {"agent": "topo", "goal": f"book room {i} ✓", "task_id": task_id}
            started = await via.post("/tasks", json=body)
            assert started.status_code == 201, started.text
        # While the tasks run: one worker and replica A die.
        worker_1.kill()
        api_a.kill()
        await a.aclose()

        async def all_waiting() -> list[dict[str, Any]] | None:
            found = (await b.get("/approvals", params={"task_queue": "topology"})).json()
            mine = [p for p in found if p["workflow_id"].split("/")[-1] in ids]
            return mine if len(mine) == TASKS else None

        pending = await eventually(all_waiting, timeout=120, what="every task's approval")
        by_task = {p["workflow_id"].split("/")[-1]: p for p in pending}
        cancelled = set(ids[::3])
        for task_id in ids:  # decided through B, with the token made on A's machine
            if task_id in cancelled:
                answer = await b.post(f"/tasks/{task_id}/cancel")
                assert answer.status_code == 202, answer.text
            else:
                approval = by_task[task_id]["approval_id"]
                answer = await b.post(f"/approvals/{approval}/approve?task_queue=topology", json={})
                assert answer.status_code == 200, answer.text

        async def all_ended() -> list[dict[str, Any]] | None:
            views = [(await b.get(f"/tasks/{task_id}")).json() for task_id in ids]
            ended = [v for v in views if v["status"] in ("succeeded", "cancelled", "failed")]
            return views if len(ended) == TASKS else None

        views = await eventually(all_ended, timeout=120, what="every task's end")
        statuses = {v["task_id"]: v["status"] for v in views}
        assert statuses == {t: "cancelled" if t in cancelled else "succeeded" for t in ids}
        for view in views:
            if view["status"] == "succeeded":
                assert "paid" in view["output"] or "pay" in view["output"], view["output"]
        # Events through the surviving replica, complete for a task started through A.
        async with b.stream("GET", f"/tasks/{ids[1 if ids[0] in cancelled else 0]}/events") as sse:
            kinds = [
                line.removeprefix("event: ")
                async for line in sse.aiter_lines()
                if line.startswith("event: ")
            ]
        assert kinds[0] == "goal" and kinds[-2:] == ["answer", "end"], kinds
        assert {"tool_result", "approval_asked", "approval"} <= set(kinds)
        # Effects, counted outside agenthub: one reservation per task, one undo per cancel.
        reserved = effects(dsn, "topo_reserved")
        released = effects(dsn, "topo_released")
        per_task = [sum(task_id in key for key, _ in reserved) for task_id in ids]
        assert per_task == [1] * TASKS, reserved
        assert sorted(k.split("/")[3] for k, _ in released) == sorted(cancelled)
        # A token revoked through B's machine is refused by a restarted replica A (another
        # token stays active: with none, a loopback API is open by design).
        subprocess.run(
            [sys.executable, "-m", "agenthub", "token", "create", "--identity", "bo"],
            cwd=ROOT, env=api_env("b"), capture_output=True, text=True, check=True,
        )  # fmt: skip
        token_id = token.split("_")[1]
        subprocess.run(
            [sys.executable, "-m", "agenthub", "token", "revoke", token_id],
            cwd=ROOT, env=api_env("b"), capture_output=True, text=True, check=True,
        )  # fmt: skip
        async with role("api", env=api_env("a")) as again:
            await wait_for_line(again, "HTTP API")
            await serving(ports["a"])
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['a']}") as fresh:

                async def refused() -> bool:
                    return (await fresh.get("/tasks", headers=auth)).status_code == 401

                await eventually(refused, timeout=10, what="the revocation on replica A")
        await b.aclose()
        assert worker_2.returncode is None, "the surviving worker carried every task"
    # The 3 MB reports (and the transcripts carrying them) went by reference through S3;
    # no machine kept a payload on its own disk.
    listed = s3_client(s3).list_objects_v2(Bucket="hub", Prefix="topology/")
    assert listed.get("KeyCount", 0) >= TASKS, listed.get("KeyCount")
    assert not list(tmp_path.glob("*/payloads/*")), "a payload stayed on one machine"
