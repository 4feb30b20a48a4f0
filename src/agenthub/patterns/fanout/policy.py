"""Failure policies of a fan-out, and how a failed item is recorded."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from agenthub.patterns._sdk import describe_failure

__all__ = ["CollectErrors", "FailFast", "FailurePolicy", "ItemFailure", "Tolerate", "item_failure"]


@dataclass(frozen=True)
class FailFast:
    """The first failure cancels the rest and fails the fan-out."""

    kind: Literal["fail_fast"] = "fail_fast"


@dataclass(frozen=True)
class CollectErrors:
    """Run everything; return successes and the failures."""

    kind: Literal["collect_errors"] = "collect_errors"


@dataclass(frozen=True)
class Tolerate:
    """Like :class:`CollectErrors`, but fail (cancelling the rest) past ``max_failures``
    failures or a ``max_ratio`` of the items."""

    max_failures: int | None = None
    max_ratio: float | None = None
    kind: Literal["tolerate"] = "tolerate"

    def limit(self, total: int) -> int:
        limits = [self.max_failures] if self.max_failures is not None else []
        if self.max_ratio is not None:
            limits.append(math.floor(self.max_ratio * total))
        return min(limits) if limits else total


FailurePolicy = FailFast | CollectErrors | Tolerate


@dataclass(frozen=True)
class ItemFailure:
    """One failed item: its index and why."""

    index: int
    error_type: str
    message: str


def item_failure(index: int, err: BaseException) -> ItemFailure:
    return ItemFailure(index, *describe_failure(err))
