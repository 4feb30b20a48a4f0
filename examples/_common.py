"""What every example needs: the embedded server (started or reused) and a worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import Client

from agenthub import EmbeddedServer, Settings, connect
from agenthub.runtime import build_worker


@asynccontextmanager
async def embedded_worker(
    task_queue: str,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]],
    plugins: Sequence[Any] = (),
    **worker_options: Any,
) -> AsyncIterator[tuple[Client, str]]:
    """Start (or reuse) the embedded server from AGENTHUB_* settings and run a worker on
    the example's own task queue (``agenthub up`` may be polling its own queue beside it).
    ``plugins`` go to the client (e.g. ``AgentsPlugin``), so its workers get them too."""
    # Failures are part of these demos; the SDK's per-attempt tracebacks would drown them.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    settings = Settings.from_env()
    async with EmbeddedServer(settings) as server:
        client = await connect(settings, target_host=server.address, plugins=list(plugins))
        async with build_worker(
            client,
            settings,
            task_queue=task_queue,
            workflows=workflows,
            activities=activities,
            **worker_options,
        ):
            yield client, task_queue
