"""Fan-in: how item results fold into one value (built-in reductions and your own)."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from agenthub.errors import ConfigurationError

__all__ = ["Reduce", "combiner", "fold", "merge", "reducer"]

_REDUCERS: dict[str, tuple[Callable[[Any, Any], Any], Callable[[], Any]]] = {}


@dataclass(frozen=True)
class Reduce:
    """How results are folded: ``collect`` (ordered list), ``count`` (successes), ``sum``,
    ``min``, ``max``, ``top_k`` (the ``k`` largest, descending), ``merge`` (dict results
    merged in item order, a later item's key winning), or a combiner registered with
    :func:`reducer` (``Reduce.using(name)``)."""

    kind: Literal["collect", "count", "sum", "min", "max", "top_k", "merge", "custom"] = "collect"
    k: int = 10
    name: str | None = None
    """The registered combiner, for ``custom``."""

    @classmethod
    def using(cls, name: str) -> Reduce:
        """Fold with the combiner registered under ``name`` by :func:`reducer`."""
        return cls("custom", name=name)


def reducer(
    name: str, *, initial: Callable[[], Any]
) -> Callable[[Callable[[Any, Any], Any]], Callable[[Any, Any], Any]]:
    """Register ``combine(acc, value) -> acc`` as the fan-in ``Reduce.using(name)``.

    Results and partial folds must be of one type, and ``combine`` associative: a child's
    fold is combined into its parent's like a single result. It runs in workflow code, so it
    must be deterministic; results arrive as the converter decodes ``Any`` (dicts, lists,
    numbers). Register it in a module every worker of the task queue imports (the module of
    the workflow that calls :func:`fan_out` is the natural place).

    Example::

        @reducer("word_counts", initial=dict)
        def add_counts(acc: dict[str, int], counts: dict[str, int]) -> dict[str, int]:
            return {w: acc.get(w, 0) + counts.get(w, 0) for w in sorted({*acc, *counts})}

        await fan_out(count_words, documents, reduce=Reduce.using("word_counts"))
    """

    def register(combine: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        _REDUCERS[name] = (combine, initial)
        return combine

    return register


def combiner(reduce: Reduce) -> tuple[Callable[[Any, Any], Any], Callable[[], Any]]:
    if reduce.name is None or reduce.name not in _REDUCERS:
        known = ", ".join(sorted(_REDUCERS)) or "none"
        raise ConfigurationError(
            f"no reducer {reduce.name!r} is registered in this worker (registered: {known}); "
            "decorate its combiner with @reducer(name, initial=...) in a module the worker "
            "imports, and pass Reduce.using(name)"
        )
    return _REDUCERS[reduce.name]


def fold(reduce: Reduce, values: list[tuple[int, Any]]) -> Any:
    """Fold ``(index, value)`` pairs; partial folds from children are folded again."""
    ordered = [v for _, v in sorted(values, key=lambda p: p[0])]
    if reduce.kind == "collect":
        return ordered
    if reduce.kind == "count":
        return len(ordered)
    if reduce.kind == "sum":
        return sum(ordered)
    if reduce.kind == "min":
        return min(ordered) if ordered else None
    if reduce.kind == "max":
        return max(ordered) if ordered else None
    if reduce.kind in ("merge", "custom"):
        return _combine_all(reduce, ordered)
    return heapq.nlargest(reduce.k, ordered)


def _combine_all(reduce: Reduce, ordered: list[Any]) -> Any:
    """``merge`` and ``custom``: one fold serves results and children's partials alike."""
    if reduce.kind == "merge":
        merged: dict[Any, Any] = {}
        for value in ordered:
            merged.update(value)
        return merged
    combine, initial = combiner(reduce)
    acc = initial()
    for value in ordered:
        acc = combine(acc, value)
    return acc


def merge(reduce: Reduce, parts: list[tuple[int, Any]]) -> Any:
    """Merge children's partial results, in item order."""
    parts = [(i, p) for i, p in sorted(parts, key=lambda x: x[0]) if p is not None]
    if reduce.kind == "collect":
        return [v for _, p in parts for v in p]
    if reduce.kind in ("count", "sum"):
        return sum(p for _, p in parts)
    if reduce.kind == "min":
        return min((p for _, p in parts), default=None)
    if reduce.kind == "max":
        return max((p for _, p in parts), default=None)
    if reduce.kind in ("merge", "custom"):
        return _combine_all(reduce, [p for _, p in parts])
    return heapq.nlargest(reduce.k, [v for _, p in parts for v in p])
