"""A hub on several machines, played by processes on this one: a Temporal dev server started
on its own with the namespace ``prod``, an S3-compatible server (moto, real S3 over HTTP) for
payloads, PostgreSQL for the ledger and the API tokens, three ``agenthub worker`` processes
and two ``agenthub api`` replicas, each with an empty data dir of its own.

200 agent tasks reserve (a compensated side effect, counted in PostgreSQL under its
idempotency key) and pay after an approval; one in ten also writes a 3 MB report (its
transcript passes 2 MB). One worker and one API replica are SIGKILLed while the tasks run;
tasks started through replica A are approved through replica B with a token created on A's
machine; a third are cancelled (their reservation undone once); events read through either
replica are the same; a token revoked on B is refused by a running A within the token
cache's TTL."""

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
from .procs import ROOT, wait_healthy
from .s3 import s3_client, s3_server

pytestmark = pytest.mark.slow

TASKS = 200
TOKEN_TTL = 5.0
"""PostgresTokenStore's default cache: a revocation takes effect on every replica within it."""
HEAVY = 10
"""One task in HEAVY writes the 3 MB report."""


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
        role("worker", env=role_environment(shared, tmp_path / "worker-3")) as worker_3,
        role("api", env=api_env("a")) as api_a,
        role("api", env=api_env("b")) as api_b,
    ):
        for process in (worker_1, worker_2, worker_3):
            await wait_for_line(process, "polling")
        for name, process in (("a", api_a), ("b", api_b)):
            await wait_for_line(process, "HTTP API")
            await wait_healthy(f"http://127.0.0.1:{ports[name]}", f"API replica {name}")
        a = httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['a']}", headers=auth, timeout=60)
        b = httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['b']}", headers=auth, timeout=60)
        ids = [f"topo-{i}-{uuid.uuid4().hex[:6]}" for i in range(TASKS)]
        heavy = set(ids[::HEAVY])
        for i, task_id in enumerate(ids):
            via = a if i % 2 == 0 and i <= TASKS // 2 else b  # A is gone after the half
            agent = "topo" if task_id in heavy else "topo-lite"
            body = {"agent": agent, "goal": f"book room {i} ✓", "task_id": task_id}
            started = await via.post("/tasks", json=body)
            assert started.status_code == 201, started.text
            if i == TASKS // 2:  # while the tasks run: one worker and replica A die
                worker_1.kill()
                api_a.kill()
        await a.aclose()

        async def all_waiting() -> list[dict[str, Any]] | None:
            found = (await b.get("/approvals", params={"task_queue": "topology"})).json()
            mine = [p for p in found if p["workflow_id"].split("/")[-1] in ids]
            return mine if len(mine) == TASKS else None

        pending = await eventually(all_waiting, timeout=300, what="every task's approval")
        by_task = {p["workflow_id"].split("/")[-1]: p for p in pending}
        cancelled = set(ids[1::3])
        for task_id in ids:  # decided through B, with the token made on A's machine
            if task_id in cancelled:
                answer = await b.post(f"/tasks/{task_id}/cancel")
                assert answer.status_code == 202, answer.text
            else:
                approval = by_task[task_id]["approval_id"]
                answer = await b.post(f"/approvals/{approval}/approve?task_queue=topology", json={})
                assert answer.status_code == 200, answer.text

        async def all_ended() -> dict[str, str] | None:
            listed = (await b.get("/tasks", params={"limit": 1000})).json()
            statuses = {t["task_id"]: t["status"] for t in listed if t["task_id"] in ids}
            ended = [s for s in statuses.values() if s in ("succeeded", "cancelled", "failed")]
            return statuses if len(ended) == TASKS else None

        statuses = await eventually(all_ended, timeout=300, what="every task's end")
        assert statuses == {t: "cancelled" if t in cancelled else "succeeded" for t in ids}
        for task_id in sorted(heavy - cancelled)[:3]:
            view = (await b.get(f"/tasks/{task_id}")).json()
            assert view["status"] == "succeeded" and "pa" in view["output"], view["output"]
        # Effects, counted outside agenthub: one reservation per task, one undo per cancel.
        reserved = effects(dsn, "topo_reserved")
        released = effects(dsn, "topo_released")
        per_task = [sum(task_id in key for key, _ in reserved) for task_id in ids]
        assert per_task == [1] * TASKS, [t for t, n in zip(ids, per_task, strict=True) if n != 1]
        assert sorted(k.split("/")[3] for k, _ in released) == sorted(cancelled)
        # Replica A again: events read through either replica are the same, and complete.
        async with role("api", env=api_env("a")) as again:
            await wait_for_line(again, "HTTP API")
            await wait_healthy(f"http://127.0.0.1:{ports['a']}", "API replica a, restarted")
            a = httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{ports['a']}", headers=auth, timeout=60
            )
            watched = sorted(heavy - cancelled)[0]
            through = [await read_kinds(via, watched) for via in (a, b)]
            assert through[0] == through[1], through
            kinds = through[0]
            assert kinds[0] == "goal" and kinds[-2:] == ["answer", "end"], kinds
            assert {"tool_result", "approval_asked", "approval"} <= set(kinds)
            # A token revoked through B's machine is refused by the running replica A within
            # the token cache's TTL (another token stays: with none, a loopback API is open).
            assert (await a.get("/tasks")).status_code == 200
            subprocess.run(
                [sys.executable, "-m", "agenthub", "token", "create", "--identity", "bo"],
                cwd=ROOT, env=api_env("b"), capture_output=True, text=True, check=True,
            )  # fmt: skip
            subprocess.run(
                [sys.executable, "-m", "agenthub", "token", "revoke", token.split("_")[1]],
                cwd=ROOT, env=api_env("b"), capture_output=True, text=True, check=True,
            )  # fmt: skip

            async def refused() -> bool:
                return (await a.get("/tasks")).status_code == 401

            await eventually(refused, timeout=TOKEN_TTL + 5, what="the revocation on replica A")
            await a.aclose()
        await b.aclose()
        assert worker_2.returncode is None and worker_3.returncode is None
    # The 3 MB reports (and the transcripts carrying them) went by reference through S3;
    # no machine kept a payload on its own disk.
    listed = s3_client(s3).list_objects_v2(Bucket="hub", Prefix="topology/")
    assert listed.get("KeyCount", 0) >= len(heavy), listed.get("KeyCount")
    assert not list(tmp_path.glob("*/payloads/*")), "a payload stayed on one machine"


async def read_kinds(http: httpx.AsyncClient, task_id: str) -> list[str]:
    """The kinds of a task's events, read through one replica to its ``end``."""
    async with http.stream("GET", f"/tasks/{task_id}/events") as sse:
        return [
            line.removeprefix("event: ")
            async for line in sse.aiter_lines()
            if line.startswith("event: ")
        ]
