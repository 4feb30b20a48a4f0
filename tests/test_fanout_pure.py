"""Fan-out's pure parts, against flat in-memory references (no server: the fast tier)."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agenthub.patterns.fanout import ItemRange, Reduce
from agenthub.patterns.fanout.engine import ActivityOptions, FanOutJob, _split
from agenthub.patterns.fanout.policy import FailFast, Tolerate
from agenthub.patterns.fanout.reduce import fold, merge

REDUCTIONS = [Reduce("collect"), Reduce("count"), Reduce("sum"), Reduce("min"),
              Reduce("max"), Reduce("top_k", k=3)]  # fmt: skip


@given(
    values=st.lists(st.integers(-1000, 1000), max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=6),
)
def test_folding_in_parts_then_merging_equals_one_flat_fold(
    values: list[int], cuts: list[int]
) -> None:
    # What a hierarchical fan-out does (children fold their slice, the parent merges the
    # partials) must give what one fold over every item gives.
    bounds = sorted({0, len(values), *(c for c in cuts if c <= len(values))})
    indexed = list(enumerate(values))
    for reduce in REDUCTIONS:
        parts = [(lo, fold(reduce, indexed[lo:hi])) for lo, hi in itertools.pairwise(bounds)]
        assert merge(reduce, parts) == fold(reduce, indexed), reduce.kind


def test_flat_references() -> None:
    pairs = [(2, 5), (0, 7), (1, -1)]
    assert fold(Reduce("collect"), pairs) == [7, -1, 5]  # item order, not arrival order
    assert fold(Reduce("sum"), pairs) == 11 and fold(Reduce("count"), pairs) == 3
    assert fold(Reduce("top_k", k=2), pairs) == [7, 5]
    assert fold(Reduce("merge"), [(1, {"a": 2}), (0, {"a": 1, "b": 1})]) == {"a": 2, "b": 1}


def _job(count: int, batch_size: int) -> FanOutJob:
    return FanOutJob(
        work="w", items=ItemRange(0, count), max_concurrency=10, batch_size=batch_size,
        reduce=Reduce("sum"), policy=FailFast(), options=ActivityOptions(start_to_close_seconds=60),
    )  # fmt: skip


@given(count=st.integers(1, 5000), batch_size=st.integers(2, 50))
def test_split_covers_every_item_once_within_the_batch_size(count: int, batch_size: int) -> None:
    children = _split(_job(count, batch_size))
    assert 1 <= len(children) <= batch_size
    covered: list[int] = []
    for child in children:
        items: Any = child.items
        assert child.offset == items.start
        covered.extend(range(items.start, items.stop))
    assert covered == list(range(count))


def test_tolerate_limit() -> None:
    assert Tolerate(max_failures=7).limit(1000) == 7
    assert Tolerate(max_ratio=0.02).limit(2000) == 40
    assert Tolerate(max_failures=7, max_ratio=0.001).limit(2000) == 2
