"""One event subscription per task, shared by every reader in this process (the HTTP API's
SSE readers).

The server lets only a few updates wait on one workflow at a time, and each subscription is
such an update: a hundred readers of one task, each with its own subscription, would queue
behind each other.

Example::

    shared = SharedEvents(client)
    async for item in shared.read(workflow_id, from_offset=0):
        print(item.offset, item.event.kind)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

from temporalio.client import Client

from agenthub.agents.task import AgentEventItem, agent_events

__all__ = ["SharedEvents"]


class _Shared:
    def __init__(self) -> None:
        self.items: list[AgentEventItem] = []
        self.done = False
        self.error: BaseException | None = None
        self.readers = 0
        self.changed = asyncio.Condition()
        self.pump: asyncio.Task[None] | None = None


def _moved(shared: _Shared, seen: int) -> bool:
    return len(shared.items) > seen or shared.done


class SharedEvents:
    """One subscription per task for every reader in this process.

    The server lets only a few updates wait on one workflow at a time, and each
    subscription is such an update: a hundred readers of one task, each with its own
    subscription, would queue behind each other. Here the first reader starts a
    subscription from the task's first retained event, later readers share it, and the last
    one to leave stops it.

    Example::

        shared = SharedEvents(client)
        async for item in shared.read(workflow_id, from_offset=0):
            print(item.offset, item.event.kind)
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self._streams: dict[str, _Shared] = {}

    async def _pump(self, workflow_id: str, shared: _Shared) -> None:
        try:
            async for item in agent_events(self.client, workflow_id):
                async with shared.changed:
                    shared.items.append(item)
                    shared.changed.notify_all()
        except Exception as err:  # handed to every reader
            shared.error = err
        finally:
            async with shared.changed:
                shared.done = True
                shared.changed.notify_all()

    async def read(
        self, workflow_id: str, *, from_offset: int = 0
    ) -> AsyncIterator[AgentEventItem]:
        """The task's events from ``from_offset`` on, live, until it ends."""
        shared = self._streams.get(workflow_id)
        if shared is None:
            shared = self._streams[workflow_id] = _Shared()
            shared.pump = asyncio.ensure_future(self._pump(workflow_id, shared))
        shared.readers += 1
        index = 0
        try:
            while True:
                while index < len(shared.items):
                    item = shared.items[index]
                    index += 1
                    if item.offset >= from_offset:
                        yield item
                if shared.done:
                    if shared.error is not None:
                        raise shared.error
                    return
                async with shared.changed:
                    await shared.changed.wait_for(partial(_moved, shared, index))
        finally:
            shared.readers -= 1
            if shared.readers == 0 and self._streams.get(workflow_id) is shared:
                del self._streams[workflow_id]
                if shared.pump is not None:
                    shared.pump.cancel()
