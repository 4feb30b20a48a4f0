"""The one place that assembles a Worker with every workflow and activity of agenthub.

Example::

    client = await connect(settings)
    worker = build_worker(client, settings, workflows=[MyWorkflow], activities=[my_activity])
    await worker.run()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from agenthub.runtime.config import Settings, connect
from agenthub.runtime.health import HealthCheckWorkflow, health_check_activity

__all__ = ["PACKAGE_ACTIVITIES", "PACKAGE_WORKFLOWS", "build_worker", "run_worker"]

PACKAGE_WORKFLOWS: tuple[type, ...] = (HealthCheckWorkflow,)
"""Workflows agenthub itself ships, registered on every worker."""

PACKAGE_ACTIVITIES: tuple[Callable[..., Any], ...] = (health_check_activity,)
"""Activities agenthub itself ships, registered on every worker."""


def _unique(items: Sequence[Any]) -> list[Any]:
    seen: set[int] = set()
    out = []
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            out.append(item)
    return out


def build_worker(
    client: Client,
    settings: Settings | None = None,
    *,
    workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] = (),
    task_queue: str | None = None,
    **worker_options: Any,
) -> Worker:
    """A Worker on the settings' task queue with agenthub's registrations plus yours.

    Synchronous activities get a thread pool unless ``activity_executor`` is given.
    Other keyword arguments go to :class:`temporalio.worker.Worker` unchanged.
    """
    settings = settings or Settings.from_env()
    all_activities = _unique([*PACKAGE_ACTIVITIES, *activities])
    if "activity_executor" not in worker_options and any(
        not asyncio.iscoroutinefunction(a) for a in all_activities
    ):
        worker_options["activity_executor"] = concurrent.futures.ThreadPoolExecutor(
            max_workers=worker_options.get("max_concurrent_activities") or 100
        )
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=_unique([*PACKAGE_WORKFLOWS, *workflows]),
        activities=all_activities,
        **worker_options,
    )


async def run_worker(
    settings: Settings | None = None,
    *,
    client: Client | None = None,
    workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] = (),
    **worker_options: Any,
) -> None:
    """Connect (unless a client is given) and run a worker until cancelled."""
    settings = settings or Settings.from_env()
    client = client or await connect(settings)
    worker = build_worker(
        client, settings, workflows=workflows, activities=activities, **worker_options
    )
    await worker.run()
