"""Withdraw from one account, deposit into another; the deposit fails permanently, so the
withdrawal is refunded, exactly once, even though the refund is retried after a crash.

    .venv/bin/python examples/money_transfer.py

The "bank" is a SQLite file that, like a real payment API, honours idempotency keys: a
request with a key it has seen returns the first result instead of moving money again.
The refund's first attempt crashes right after the bank applied it; the retry presents the
same key, so the account is refunded once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from dataclasses import dataclass

from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError

from agenthub import Settings
from agenthub.errors import BusinessRuleViolation, PermanentFailure
from agenthub.patterns import Saga
from agenthub.patterns.idempotency import activity_idempotency_key

try:
    from examples._common import embedded_worker
except ImportError:  # run as a script
    from _common import embedded_worker  # type: ignore[no-redef]

BANK = Settings.from_env().data_dir / "example-bank.db"

TASK_QUEUE = "examples.money-transfer"
"""This example's own task queue: its worker runs every workflow started there."""


@dataclass
class Transfer:
    source: str
    target: str
    amount: int


def _bank() -> sqlite3.Connection:
    db = sqlite3.connect(BANK, isolation_level=None, timeout=10)
    db.execute("CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, balance INT, open INT)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, account TEXT, delta INT)"
    )
    return db


def bank_apply(key: str, account: str, delta: int) -> bool:
    """Move money once per key; False when the key was already used (nothing moves)."""
    db = _bank()
    try:
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT 1 FROM requests WHERE key = ?", (key,)).fetchone():
            db.execute("ROLLBACK")
            return False
        row = db.execute("SELECT balance, open FROM accounts WHERE id = ?", (account,)).fetchone()
        if row is None or not row[1]:
            db.execute("ROLLBACK")
            raise PermanentFailure(f"account {account} is closed")
        if row[0] + delta < 0:
            db.execute("ROLLBACK")
            raise BusinessRuleViolation(f"account {account} has {row[0]}, cannot take {-delta}")
        db.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (delta, account))
        db.execute("INSERT INTO requests VALUES (?, ?, ?)", (key, account, delta))
        db.execute("COMMIT")
        return True
    finally:
        db.close()


def balance(account: str) -> int:
    db = _bank()
    try:
        return int(
            db.execute("SELECT balance FROM accounts WHERE id = ?", (account,)).fetchone()[0]
        )
    finally:
        db.close()


@activity.defn
async def withdraw(t: Transfer) -> None:
    bank_apply(activity_idempotency_key("withdraw"), t.source, -t.amount)


@activity.defn
async def deposit(t: Transfer) -> None:
    bank_apply(activity_idempotency_key("deposit"), t.target, t.amount)


@activity.defn
async def refund(t: Transfer) -> None:
    applied = bank_apply(activity_idempotency_key("refund"), t.source, t.amount)
    activity.logger.info("refund attempt %d applied=%s", activity.info().attempt, applied)
    if activity.info().attempt == 1:
        raise RuntimeError("worker crashed after the bank applied the refund")


@workflow.defn
class MoneyTransfer:
    @workflow.run
    async def run(self, t: Transfer) -> str:
        async with Saga() as saga:
            await saga.step(withdraw, t, compensation=refund)
            await saga.step(deposit, t)
        return "transferred"


async def main() -> None:
    BANK.parent.mkdir(parents=True, exist_ok=True)
    db = _bank()
    db.execute("INSERT OR REPLACE INTO accounts VALUES ('alice', 100, 1), ('bob', 0, 0)")
    db.close()
    print(f"before: alice={balance('alice')} bob={balance('bob')} (bob's account is closed)")
    activities = [withdraw, deposit, refund]
    async with embedded_worker(TASK_QUEUE, [MoneyTransfer], activities) as (client, tq):
        handle = await client.start_workflow(
            MoneyTransfer.run, Transfer("alice", "bob", 50), id=f"transfer-{uuid.uuid4()}",
            task_queue=tq,
        )  # fmt: skip
        try:
            print(await handle.result())
        except WorkflowFailureError as err:
            print(f"transfer failed: {err.cause.cause if err.cause else err}")
        history = await handle.fetch_history()
    refund_attempts = max(
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    )
    refunds = _bank().execute(
        "SELECT count(*) FROM requests WHERE key = ?", (f"{handle.id}/refund",)
    )
    print(
        f"after:  alice={balance('alice')} bob={balance('bob')}; refund attempts: "
        f"{refund_attempts}, refunds applied: {refunds.fetchone()[0]}"
    )


if __name__ == "__main__":
    asyncio.run(main())
