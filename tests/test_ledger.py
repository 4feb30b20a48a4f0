"""The idempotency ledger: once per key, atomically with the effect, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment

from agenthub.errors import ConfigurationError, InvalidInput
from agenthub.patterns.idempotency import activity_idempotency_key, workflow_idempotency_key
from agenthub.patterns.ledger import IdempotencyLedger, SqliteLedger, idempotent, open_ledger
from agenthub.testing import running_worker

from . import postgres


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    reason = postgres.unavailable_reason()
    if reason:
        pytest.skip(reason)
    with postgres.postgres_server() as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> IdempotencyLedger:
    if request.param == "sqlite":
        return open_ledger(tmp_path / "ledger.db")
    return open_ledger(request.getfixturevalue("postgres_dsn"))


def _counter(conn: Any, ledger: IdempotencyLedger) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS counter (k TEXT PRIMARY KEY, n INT)")


async def test_effect_happens_once_per_key(ledger: IdempotencyLedger) -> None:
    key = f"k-{uuid.uuid4()}"
    runs: list[int] = []

    def effect(conn: Any) -> dict[str, int]:
        runs.append(1)
        return {"charged": 42}

    assert await ledger.run_once(key, effect) == {"charged": 42}
    assert await ledger.run_once(key, effect) == {"charged": 42}
    assert len(runs) == 1
    record = await ledger.get(key)
    assert record is not None and record.status == "done" and record.result == {"charged": 42}
    assert await ledger.get("never-used") is None


async def test_failed_effect_is_rolled_back_with_its_record(ledger: IdempotencyLedger) -> None:
    key = f"k-{uuid.uuid4()}"
    table = f"t_{uuid.uuid4().hex[:8]}"
    await ledger.run_once(
        f"setup-{key}", lambda c: c.execute(f"CREATE TABLE {table} (v INT)") and None
    )

    def failing(conn: Any) -> None:
        conn.execute(f"INSERT INTO {table} VALUES (1)")
        raise RuntimeError("crash after the write, before the commit")

    with pytest.raises(RuntimeError):
        await ledger.run_once(key, failing)
    assert await ledger.get(key) is None

    def count(conn: Any) -> int:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    assert await ledger.run_once(f"count-{key}", count) == 0, "the write was rolled back"


async def test_concurrent_attempts_with_one_key_act_once(ledger: IdempotencyLedger) -> None:
    key = f"k-{uuid.uuid4()}"
    table = f"t_{uuid.uuid4().hex[:8]}"
    await ledger.run_once(
        f"setup-{key}", lambda c: c.execute(f"CREATE TABLE {table} (v INT)") and None
    )

    def effect(conn: Any) -> int:
        conn.execute(f"INSERT INTO {table} VALUES (1)")
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    results = await asyncio.gather(*(ledger.run_once(key, effect) for _ in range(20)))
    assert results == [1] * 20


def test_open_ledger_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_ledger(tmp_path / "x.db"), SqliteLedger)


# --- @idempotent on a real worker -------------------------------------------------------

LEDGER_PATH: dict[str, Path] = {}
SENT: list[str] = []


@activity.defn
@idempotent(ledger=lambda: SqliteLedger(LEDGER_PATH["path"]))
async def send_email(to: str) -> str:
    SENT.append(activity_idempotency_key("send_email"))
    if activity.info().attempt == 1 and to == "flaky@example.com":
        raise RuntimeError("SMTP connection reset")
    return f"sent to {to}"


@activity.defn
async def bad_key() -> str:
    return activity_idempotency_key("with/slash")


@workflow.defn
class Notify:
    @workflow.run
    async def run(self, to: str) -> list[str]:
        options: dict[str, Any] = {
            "start_to_close_timeout": timedelta(seconds=10),
            "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=50)),
        }
        first = await workflow.execute_activity(send_email, to, **options)
        # The same step again in the same workflow: the ledger answers, nothing is sent.
        second = await workflow.execute_activity(send_email, to, **options)
        return [first, second, workflow_idempotency_key("send_email")]


async def test_idempotent_activity_acts_once(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    LEDGER_PATH["path"] = tmp_path / "ledger.db"
    client = time_skipping_env.client
    wid = f"notify-{uuid.uuid4()}"
    async with running_worker(client, workflows=[Notify], activities=[send_email]) as tq:
        first, second, key = await client.execute_workflow(
            Notify.run, "flaky@example.com", id=wid, task_queue=tq
        )
    assert first == second == "sent to flaky@example.com"
    assert key == f"{wid}/send_email"
    # Attempt 1 failed (claim released), attempt 2 sent; the second call sent nothing.
    assert SENT.count(key) == 2
    record = await SqliteLedger(tmp_path / "ledger.db").get(key)
    assert record is not None and record.result == "sent to flaky@example.com"


def test_bad_step_names_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="must be non-empty and contain no '/'"):
        from agenthub.patterns.idempotency import _compose

        _compose("wf", "a/b", None)


def test_postgres_without_driver_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_psycopg(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "psycopg":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    with pytest.raises(ConfigurationError, match=r"pip install 'agenthub\[postgres\]'"):
        open_ledger("postgresql://nobody@127.0.0.1:1/x")


async def test_upsert_inside_run_once(ledger: IdempotencyLedger) -> None:
    table = f"t_{uuid.uuid4().hex[:8]}"

    def setup(conn: Any) -> None:
        conn.execute(f"CREATE TABLE {table} (id TEXT PRIMARY KEY, status TEXT, n INT)")

    await ledger.run_once(f"setup-{table}", setup)

    def write(status: str, n: int) -> Callable[[Any], list[Any]]:
        def effect(conn: Any) -> list[Any]:
            ledger.upsert(conn, table, {"id": "order-1", "status": status, "n": n}, key=["id"])
            return [list(r) for r in conn.execute(f"SELECT id, status, n FROM {table}")]

        return effect

    assert await ledger.run_once(f"a-{table}", write("paid", 1)) == [["order-1", "paid", 1]]
    assert await ledger.run_once(f"b-{table}", write("shipped", 2)) == [["order-1", "shipped", 2]]
    with pytest.raises(InvalidInput, match="not a plain SQL identifier"):
        await ledger.run_once(
            f"c-{table}", lambda c: ledger.upsert(c, "x; DROP TABLE y", {"id": 1}, key=["id"])
        )
    with pytest.raises(InvalidInput, match="key columns"):
        await ledger.run_once(f"d-{table}", lambda c: ledger.upsert(c, table, {"n": 1}, key=["id"]))
