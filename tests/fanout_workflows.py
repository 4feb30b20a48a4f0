"""Workflows and activities for the fan-out tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from agenthub.errors import PermanentFailure
from agenthub.patterns.fanout import (
    CollectErrors,
    FailFast,
    FanOutResult,
    ItemPages,
    ItemRange,
    Reduce,
    Tolerate,
    fan_out,
    reducer,
)

RUNNING: dict[str, int] = defaultdict(int)
MAX_RUNNING: dict[str, int] = defaultdict(int)
CONDITIONS: dict[str, asyncio.Condition] = defaultdict(asyncio.Condition)
CANCELLED: dict[str, int] = defaultdict(int)
STARTED: dict[str, int] = defaultdict(int)
BOUND: dict[str, int] = {}
GATES: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
SOURCES: dict[str, Path] = {}
LOADS: dict[str, list[tuple[int, int]]] = defaultdict(list)


def _root() -> str:
    return (activity.info().workflow_id or "").split("/")[0]


@activity.defn
async def square(i: int) -> int:
    """Counts how many run at once; lingers until the bound is reached (or briefly)."""
    key = _root()
    condition = CONDITIONS[key]
    async with condition:
        RUNNING[key] += 1
        MAX_RUNNING[key] = max(MAX_RUNNING[key], RUNNING[key])
        condition.notify_all()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                condition.wait_for(lambda: RUNNING[key] >= BOUND.get(key, 1)), timeout=0.2
            )
        RUNNING[key] -= 1
    return i * i


@activity.defn
async def picky(i: int) -> int:
    if i % 7 == 3:
        raise PermanentFailure(f"item {i} is malformed")
    return i


@activity.defn
async def forever(i: int) -> int:
    key = _root()
    STARTED[key] += 1
    try:
        while True:
            activity.heartbeat()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.Event().wait(), timeout=0.2)
    except asyncio.CancelledError:
        CANCELLED[key] += 1
        raise


@activity.defn
async def gated(i: int) -> int:
    """Even items finish at once; odd ones wait (heartbeating) until the test opens the gate."""
    gate = GATES[_root()]
    while i % 2 and not gate.is_set():
        activity.heartbeat()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(gate.wait(), timeout=0.2)
    return i


@activity.defn
async def load_lines(start: int, stop: int) -> list[int]:
    """Items ``start .. stop-1`` of a file of one JSON number per line."""
    key = _root()
    LOADS[key].append((start, stop))
    with SOURCES[key].open() as lines:
        return [json.loads(line) for n, line in enumerate(lines) if start <= n < stop]


@activity.defn
async def short_loader(start: int, stop: int) -> list[int]:
    return list(range(start, stop - 1))


@workflow.defn
class SquareItem:
    """One item as a child workflow: fails (for good) on items 3, 10, 17, ..."""

    @workflow.run
    async def run(self, i: int) -> int:
        if i % 7 == 3:
            raise PermanentFailure(f"item {i} is malformed")
        result: int = await workflow.execute_activity(
            square, i, start_to_close_timeout=timedelta(seconds=30)
        )
        return result


@activity.defn
async def words(i: int) -> dict[str, int]:
    return {f"w{i % 3}": 1, "total": i}


@activity.defn
async def keyed(i: int) -> dict[str, int]:
    return {f"k{i % 5}": i}


@reducer("test_word_counts", initial=dict)
def add_counts(acc: dict[str, int], counts: dict[str, int]) -> dict[str, int]:
    return {w: acc.get(w, 0) + counts.get(w, 0) for w in sorted({*acc, *counts})}


@dataclass
class FanSpec:
    activity: str
    count: int
    max_concurrency: int = 10
    batch_size: int = 1000
    reduce: Reduce = field(default_factory=Reduce)
    policy: str = "fail_fast"
    max_failures: int | None = None
    as_list: bool = False
    loader: str | None = None
    unit: str | None = None


@workflow.defn
class FanOutTest:
    @workflow.run
    async def run(self, spec: FanSpec) -> FanOutResult:
        policy = {
            "fail_fast": FailFast(),
            "collect": CollectErrors(),
            "tolerate": Tolerate(max_failures=spec.max_failures),
        }[spec.policy]
        items: list[int] | ItemRange | ItemPages = ItemRange(0, spec.count)
        if spec.as_list:
            items = list(range(spec.count))
        elif spec.loader:
            items = ItemPages.of(spec.loader, spec.count)
        # By class when no unit is given (the usual way), by name with the unit otherwise.
        work = SquareItem if spec.activity == "SquareItem" and not spec.unit else spec.activity
        return await fan_out(
            work,
            items,
            unit="workflow" if spec.unit == "workflow" else None,
            max_concurrency=spec.max_concurrency,
            batch_size=spec.batch_size,
            reduce=spec.reduce,
            failures=policy,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(
                maximum_attempts=2, initial_interval=timedelta(milliseconds=10)
            ),
        )


@workflow.defn
class SeveralFanOuts:
    """Two hierarchical fan-outs at once, then one of item workflows: no child id clashes."""

    @workflow.run
    async def run(self) -> list[int]:
        step = timedelta(seconds=30)
        first, second = await asyncio.gather(
            fan_out(square, ItemRange(0, 12), batch_size=4, reduce=Reduce("sum"),
                    start_to_close_timeout=step),
            fan_out(square, ItemRange(100, 112), batch_size=4, reduce=Reduce("sum"),
                    start_to_close_timeout=step),
        )  # fmt: skip
        third = await fan_out(SquareItem, [1, 2, 4], reduce=Reduce("sum"))
        return [first.value, second.value, third.value]
