"""Workflows and activities the benchmarks run. Twelve workflows share this module, so the
sandbox's per-run import of it is heavy on purpose: ``saga_peers`` compares the same saga in a
module of its own (``saga_small.py``)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from agenthub.patterns.callbacks import CallbackRequest, wait_for_callback
from agenthub.patterns.entity import (
    Entity,
    EntityConfig,
    EntityStart,
    entity_signal,
    entity_update,
)
from agenthub.patterns.fanout import ItemRange, Reduce, fan_out
from agenthub.patterns.idempotency import activity_idempotency_key
from agenthub.patterns.ledger import SqliteLedger
from agenthub.patterns.saga import Saga


@activity.defn
async def touch(i: str) -> str:
    return i


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, i: str) -> str:
        return await workflow.execute_activity(
            touch, i, start_to_close_timeout=timedelta(seconds=30)
        )


# --- 3-step saga, with agenthub's Saga and written by hand --------------------------------

_STEP = timedelta(seconds=30)


@activity.defn
async def saga_step(name: str) -> str:
    return name


@activity.defn
async def saga_undo(name: str) -> None:
    return None


@workflow.defn
class ThreeStepSaga:
    @workflow.run
    async def run(self, key: str) -> list[str]:
        done = []
        async with Saga(step_timeout=_STEP) as saga:
            for step in ("reserve", "charge", "ship"):
                done.append(await saga.step(saga_step, f"{key}:{step}", compensation=saga_undo))
        return done


@workflow.defn
class ThreeStepLocalSaga:
    """The same saga with its steps as local activities (undos stay regular activities)."""

    @workflow.run
    async def run(self, key: str) -> list[str]:
        done = []
        async with Saga(step_timeout=_STEP, local_steps=True) as saga:
            for step in ("reserve", "charge", "ship"):
                done.append(await saga.step(saga_step, f"{key}:{step}", compensation=saga_undo))
        return done


@workflow.defn(sandboxed=False)
class ThreeStepLocalSagaUnsandboxed:
    """:class:`ThreeStepLocalSaga` outside the SDK's sandbox (it passes ``agenthub lint``)."""

    @workflow.run
    async def run(self, key: str) -> list[str]:
        done = []
        async with Saga(step_timeout=_STEP, local_steps=True) as saga:
            for step in ("reserve", "charge", "ship"):
                done.append(await saga.step(saga_step, f"{key}:{step}", compensation=saga_undo))
        return done


@workflow.defn
class ThreeStepHandWritten:
    """The same saga in plain temporalio: a list of undos and try/except."""

    @workflow.run
    async def run(self, key: str) -> list[str]:
        undos: list[str] = []
        done = []
        try:
            for step in ("reserve", "charge", "ship"):
                undos.append(f"{key}:{step}")
                done.append(
                    await workflow.execute_activity(
                        saga_step, f"{key}:{step}", start_to_close_timeout=_STEP,
                        retry_policy=RetryPolicy(maximum_attempts=10),
                    )
                )  # fmt: skip
        except BaseException:
            for undo in reversed(undos):
                await workflow.execute_activity(
                    saga_undo, undo, start_to_close_timeout=_STEP,
                    retry_policy=RetryPolicy(maximum_attempts=0),
                )  # fmt: skip
            raise
        return done


# --- activities with and without the idempotency ledger ---------------------------------


@dataclass
class EffectBatch:
    db_path: str
    count: int
    use_ledger: bool


_PLAIN = threading.local()


def _plain_effect(db_path: str, key: str) -> None:
    # Same connection reuse and pragmas as the ledger, so only the ledger's work differs.
    conn = getattr(_PLAIN, db_path, None)
    if conn is None:
        conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=wal")
        conn.execute("PRAGMA synchronous=normal")
        conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT)")
        setattr(_PLAIN, db_path, conn)
    conn.execute("INSERT INTO effects VALUES (?)", (key,))


_LEDGERS: dict[str, SqliteLedger] = {}


@activity.defn
async def record_effect(db_path: str, use_ledger: bool) -> None:
    key = activity_idempotency_key()
    if not use_ledger:
        await asyncio.to_thread(_plain_effect, db_path, key)
        return
    ledger = _LEDGERS.get(db_path) or _LEDGERS.setdefault(db_path, SqliteLedger(db_path))

    def effect(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT)")
        conn.execute("INSERT INTO effects VALUES (?)", (key,))

    await ledger.run_once(key, effect)


@workflow.defn
class EffectFanOut:
    @workflow.run
    async def run(self, batch: EffectBatch) -> int:
        await asyncio.gather(
            *(
                workflow.execute_activity(
                    record_effect,
                    args=[batch.db_path, batch.use_ledger],
                    start_to_close_timeout=_STEP,
                )
                for _ in range(batch.count)
            )
        )
        return batch.count


# --- messages into one entity: agenthub Entity vs a hand-written signal loop -------------


@dataclass
class Add:
    amount: int
    message_id: str


@workflow.defn
class HandCounter:
    """The hand-written baseline: a signal handler, a wait, and (when ``can_at`` > 0) the
    usual hand-written continue-as-new at a history length, as a long-lived loop needs."""

    def __init__(self) -> None:
        self.total = 0

    @workflow.signal
    def add(self, msg: Add) -> None:
        self.total += msg.amount

    @workflow.update
    async def wait_total(self, total: int) -> int:
        await workflow.wait_condition(lambda: self.total >= total)
        return self.total

    @workflow.update
    async def add_now(self, msg: Add) -> int:
        """The update form of :meth:`add`: answers with the new total."""
        self.total += msg.amount
        return self.total

    @workflow.query
    def runs(self) -> int:
        return self._runs

    @workflow.run
    async def run(self, can_at: int, total: int = 0, runs: int = 1) -> None:
        self.total += total
        self._runs = runs
        if can_at <= 0:
            await workflow.wait_condition(lambda: False)
        await workflow.wait_condition(
            lambda: workflow.info().get_current_history_length() >= can_at
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(args=[can_at, self.total, runs + 1])


@dataclass
class CounterState:
    total: int = 0


@workflow.defn
class CounterEntity(Entity[CounterState]):
    state_type = CounterState
    config = EntityConfig(max_history_events=2000)

    @workflow.run
    async def run(self, start: EntityStart) -> CounterState:
        return await self.run_entity(start)

    @entity_signal
    async def add(self, msg: Add) -> None:
        self.state.total += msg.amount

    @entity_update
    async def add_now(self, msg: Add) -> int:
        """The update form of :meth:`add` (deduplicated by its message id)."""
        self.state.total += msg.amount
        return self.state.total

    @workflow.update
    async def wait_total(self, total: int) -> int:
        await workflow.wait_condition(lambda: self.state.total >= total)
        return self.state.total

    @workflow.query
    def runs(self) -> int:
        return self.entity_runs


# --- fan-out at scale: agenthub's hierarchical fan_out vs hand-written chunks ------------


@activity.defn
async def trivial(i: int) -> int:
    return i


@workflow.defn
class ChunkedByHand:
    """The best plain-temporalio equivalent: 1,000 activities at a time from one workflow,
    continuing as new after each chunk so the history stays bounded."""

    @workflow.run
    async def run(self, total: int, offset: int = 0, acc: int = 0) -> int:
        stop = min(offset + 1000, total)
        results = await asyncio.gather(
            *(
                workflow.execute_activity(trivial, i, start_to_close_timeout=_STEP)
                for i in range(offset, stop)
            )
        )
        acc += len(results)
        if stop < total:
            workflow.continue_as_new(args=[total, stop, acc])
        return acc


@workflow.defn
class FanOutScale:
    @workflow.run
    async def run(self, total: int, max_concurrency: int) -> int:
        result = await fan_out(
            trivial,
            ItemRange(0, total),
            max_concurrency=max_concurrency,
            batch_size=1000,
            reduce=Reduce("count"),
            start_to_close_timeout=_STEP,
        )
        return int(result.value)


# --- callback latency: HTTP callback vs a raw signal ----------------------------------------

TOKENS: dict[str, str] = {}
TOKEN_READY: dict[str, asyncio.Event] = {}


@activity.defn
async def hand_out_token(req: CallbackRequest) -> None:
    TOKENS[req.workflow_id] = req.token(str(req.payload))
    TOKEN_READY.setdefault(req.workflow_id, asyncio.Event()).set()


@workflow.defn
class WaitsForCallback:
    @workflow.run
    async def run(self, secret: str) -> object:
        return await wait_for_callback(
            "bench", timeout=timedelta(minutes=5), request=hand_out_token, payload=secret
        )


@workflow.defn
class WaitsForSignal:
    def __init__(self) -> None:
        self.value: object = None

    @workflow.signal
    def deliver(self, value: object) -> None:
        self.value = value

    @workflow.run
    async def run(self) -> object:
        await workflow.wait_condition(lambda: self.value is not None)
        return self.value
