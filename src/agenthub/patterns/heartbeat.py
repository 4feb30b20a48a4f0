"""Heartbeats for long activities: automatic, with progress, and resume after a retry.

Inside an activity with a ``heartbeat_timeout``, :class:`Heartbeat` heartbeats in the
background at a third of the timeout (so a stuck step between progress reports still counts
as alive), sends the latest progress with every heartbeat, and tells a retried attempt where
the previous one stopped. Heartbeats are also how cancellation reaches an activity, so a
cancelled workflow's activity stops promptly.

Example::

    @activity.defn
    async def index_documents(batch: Batch) -> int:
        async with Heartbeat() as hb:
            start = hb.resume_from(int, default=0)     # 0, or where the last attempt got to
            for i in range(start, len(batch.docs)):
                await index(batch.docs[i])
                hb.progress(i + 1)
        return len(batch.docs)
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

from temporalio import activity

__all__ = ["Heartbeat"]

T = TypeVar("T")

_DEFAULT_INTERVAL = timedelta(seconds=10)
_NOTHING = object()


class Heartbeat:
    """Background heartbeats plus progress for the current (async) activity.

    Args:
        interval: time between automatic heartbeats; default a third of the activity's
            heartbeat timeout, or 10 s when it has none.
    """

    def __init__(self, interval: timedelta | None = None) -> None:
        info = activity.info()
        if interval is None:
            interval = info.heartbeat_timeout / 3 if info.heartbeat_timeout else _DEFAULT_INTERVAL
        self.interval = interval
        self._details: Any = _NOTHING
        self._task: asyncio.Task[None] | None = None

    @property
    def attempt(self) -> int:
        """This attempt's number (1 for the first)."""
        return activity.info().attempt

    def resume_from(self, type_hint: type[T], default: T) -> T:
        """The progress the previous attempt last reported, or ``default``."""
        details = activity.info().heartbeat_details
        if not details:
            return default
        # The SDK decodes details without type hints (a dataclass arrives as a dict):
        # round-trip through the payload converter to get the requested type.
        converter = activity.payload_converter()
        return converter.from_payload(converter.to_payload(details[0]), type_hint)

    def progress(self, details: Any) -> None:
        """Record progress and heartbeat it now (the SDK throttles what reaches the server)."""
        self._details = details
        activity.heartbeat(details)

    def _beat(self) -> None:
        if self._details is _NOTHING:
            activity.heartbeat()
        else:
            activity.heartbeat(self._details)

    async def _loop(self) -> None:
        seconds = self.interval.total_seconds()
        while True:
            self._beat()
            await asyncio.sleep(seconds)

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
