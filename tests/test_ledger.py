"""The idempotency ledger: once per key, atomically with the effect, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment

from agenthub.errors import ConfigurationError, InvalidInput
from agenthub.patterns.idempotency import activity_idempotency_key
from agenthub.patterns.ledger import (
    IdempotencyLedger,
    SqliteLedger,
    idempotency_key,
    idempotent,
    open_ledger,
)
from agenthub.testing import running_worker


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
    SENT.append(idempotency_key())
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
        # The same call again in the same workflow: the ledger answers, nothing is sent.
        second = await workflow.execute_activity(send_email, to, **options)
        # Other arguments are other calls: each acts once.
        others = [
            await workflow.execute_activity(send_email, other, **options)
            for other in ("ana@x", "bo@x", "ana@x")
        ]
        return [first, second, *others]


async def test_idempotent_activity_acts_once(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    LEDGER_PATH["path"] = tmp_path / "ledger.db"
    client = time_skipping_env.client
    wid = f"notify-{uuid.uuid4()}"
    async with running_worker(client, workflows=[Notify], activities=[send_email]) as tq:
        first, second, *others = await client.execute_workflow(
            Notify.run, "flaky@example.com", id=wid, task_queue=tq
        )
    assert first == second == "sent to flaky@example.com"
    assert others == ["sent to ana@x", "sent to bo@x", "sent to ana@x"]
    keys = [k for k in SENT if k.startswith(f"{wid}/send_email/")]
    # Attempt 1 failed (claim released), attempt 2 sent; the repeat sent nothing; ana and bo
    # got one email each, under keys of their own.
    assert len(keys) == 4 and len(set(keys)) == 3
    assert keys[0] == keys[1]
    record = await SqliteLedger(tmp_path / "ledger.db").get(keys[0])
    assert record is not None and record.result["result"] == "sent to flaky@example.com"


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


# --- @idempotent: keys per call, typed records, leases ------------------------------------

SQUARED: list[int] = []


@activity.defn
@idempotent(ledger=lambda: SqliteLedger(LEDGER_PATH["path"]))
async def square_once(n: int) -> tuple[int, int]:
    SQUARED.append(n)
    return (n, n * n)


@activity.defn
@idempotent("refund", ledger=lambda: SqliteLedger(LEDGER_PATH["path"]), key=lambda order, _: order)
async def refund(order: str, cents: int) -> str:
    return f"refunded {cents} on {order}"


@workflow.defn
class SquareAll:
    @workflow.run
    async def run(self, count: int) -> list[Any]:
        from agenthub.patterns.fanout import ItemRange, fan_out

        result = await fan_out(square_once, ItemRange(0, count))
        again = await workflow.execute_activity(
            square_once, 3, start_to_close_timeout=timedelta(seconds=10)
        )
        return [result.value, again]


@workflow.defn
class RefundTwice:
    @workflow.run
    async def run(self) -> list[str]:
        options: dict[str, Any] = {
            "start_to_close_timeout": timedelta(seconds=10),
            "retry_policy": RetryPolicy(maximum_attempts=3),
        }
        first = await workflow.execute_activity(refund, args=["o-1", 500], **options)
        same = await workflow.execute_activity(refund, args=["o-1", 500], **options)
        try:
            await workflow.execute_activity(refund, args=["o-1", 900], **options)
        except Exception as err:
            return [first, same, str(err.__cause__)]
        return [first, same, "no error"]


async def test_idempotent_calls_in_a_fan_out_each_act_once_with_their_own_result(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    LEDGER_PATH["path"] = tmp_path / "ledger.db"
    SQUARED.clear()
    client = time_skipping_env.client
    async with running_worker(client, workflows=[SquareAll], activities=[square_once]) as tq:
        values, again = await client.execute_workflow(
            SquareAll.run, 20, id=f"squares-{uuid.uuid4()}", task_queue=tq
        )
    assert [tuple(v) for v in values] == [(n, n * n) for n in range(20)]
    assert sorted(SQUARED) == list(range(20))  # item 3 again: the record, no second effect
    assert again == [3, 9]  # a tuple, through the workflow's JSON like the first time


async def test_a_business_key_reused_with_other_arguments_is_refused(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    LEDGER_PATH["path"] = tmp_path / "ledger.db"
    client = time_skipping_env.client
    async with running_worker(client, workflows=[RefundTwice], activities=[refund]) as tq:
        first, same, error = await client.execute_workflow(
            RefundTwice.run, id=f"refund-{uuid.uuid4()}", task_queue=tq
        )
    assert first == same == "refunded 500 on o-1"
    assert "was recorded for other arguments" in error


async def test_records_come_back_as_the_return_type(ledger: IdempotencyLedger) -> None:
    key = f"t-{uuid.uuid4()}"

    def effect(conn: Any) -> tuple[int, int]:
        return (1, 2)

    assert await ledger.run_once(key, effect) == (1, 2)
    assert await ledger.run_once(key, effect) == (1, 2)  # not [1, 2]


async def test_a_held_claim_is_retried_when_its_lease_ends(ledger: IdempotencyLedger) -> None:
    from agenthub.errors import TransientFailure

    key = f"lease-{uuid.uuid4()}"
    assert (await ledger.claim(key, timedelta(seconds=120))) == (True, None)
    with pytest.raises(TransientFailure) as info:
        await ledger.claim(key, timedelta(seconds=120))
    delay = info.value.next_retry_delay
    assert delay is not None and timedelta(seconds=100) < delay <= timedelta(seconds=122)


CHARGED: list[str] = []


@activity.defn
@idempotent(ledger=lambda: SqliteLedger(LEDGER_PATH["path"]))
async def charge_card(order: str) -> str:
    CHARGED.append(order)
    return f"charged {order}"


@workflow.defn
class ChargeWithDefaults:
    @workflow.run
    async def run(self, order: str) -> str:
        from agenthub.patterns import retry

        return await workflow.execute_activity(
            charge_card, order, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=retry.preset("DEFAULT"),
        )  # fmt: skip


async def test_after_a_crashed_attempt_the_default_preset_waits_out_the_lease(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """An attempt that died holding the claim blocks the key until its lease ends; the next
    attempt is scheduled for then (not on the preset's backoff, which could run out first),
    and the charge happens once."""
    from agenthub.patterns.ledger import fingerprint_call

    LEDGER_PATH["path"] = tmp_path / "ledger.db"
    client = dev_server_env.client
    wid, order = f"charge-{uuid.uuid4()}", "o-77"
    # The claim a crashed first attempt left behind, with 3 s of lease left.
    key = f"{wid}/charge_card/{fingerprint_call((order,), {})}"
    assert await SqliteLedger(LEDGER_PATH["path"]).claim(key, timedelta(seconds=3)) == (True, None)
    async with running_worker(
        client, workflows=[ChargeWithDefaults], activities=[charge_card]
    ) as tq:
        handle = await client.start_workflow(ChargeWithDefaults.run, order, id=wid, task_queue=tq)
        assert await handle.result() == "charged o-77"
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in (await handle.fetch_history()).events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert attempts == [2], "one blocked attempt, then one that acts"
    assert CHARGED.count(order) == 1


def test_a_new_sqlite_ledger_is_owner_only(tmp_path: Path) -> None:
    SqliteLedger(tmp_path / "new" / "ledger.db")
    assert (tmp_path / "new" / "ledger.db").stat().st_mode & 0o777 == 0o600
