"""What a fan-out runs over: a list, an index range, or pages loaded by an activity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agenthub.errors import ConfigurationError
from agenthub.patterns._sdk import activity_name

__all__ = ["ItemPages", "ItemRange", "activity_type_name"]


def activity_type_name(
    activity: Callable[..., Any] | str,
    caller: str,
    expected: str = "an activity (decorated with @activity.defn) or its name",
) -> str:
    """The activity's type name, or a ConfigurationError naming ``caller`` and ``expected``."""
    name = activity if isinstance(activity, str) else activity_name(activity)
    if not name:
        raise ConfigurationError(f"{caller} expects {expected}; got {activity!r}")
    return str(name)


@dataclass(frozen=True)
class ItemRange:
    """Items ``start, start+1, ..., stop-1``: each activity call gets its index."""

    start: int
    stop: int

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


@dataclass(frozen=True)
class ItemPages:
    """Items ``start .. stop-1`` of a source that a loader activity reads a slice at a time.

    ``loader`` is the name of an activity ``load(start: int, stop: int) -> list`` returning
    exactly ``stop - start`` items (a file read by line offsets, ``LIMIT/OFFSET`` rows, keys
    of an object store). Each workflow that runs activities calls it once for its own batch,
    so only one batch of items is ever in any history. Build one with :meth:`of`.

    Example::

        @activity.defn
        async def load_rows(start: int, stop: int) -> list[str]:
            return read_lines("input.jsonl", start, stop)

        await fan_out(process, ItemPages.of(load_rows, 1_000_000), reduce=Reduce("count"))
    """

    loader: str
    start: int
    stop: int

    @classmethod
    def of(cls, loader: Callable[..., Any] | str, total: int, start: int = 0) -> ItemPages:
        """Items ``start .. start+total-1`` loaded by ``loader`` (an activity or its name)."""
        return cls(activity_type_name(loader, "ItemPages.of"), start, start + total)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)
