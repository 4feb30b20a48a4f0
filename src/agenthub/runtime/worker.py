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
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agenthub.patterns.approvals import ApprovalInbox, register_approval, unregister_approval
from agenthub.patterns.fanout import FanOutBatch
from agenthub.runtime.config import Settings, connect
from agenthub.runtime.health import HealthCheckWorkflow, health_check_activity

__all__ = [
    "PACKAGE_ACTIVITIES",
    "PACKAGE_WORKFLOWS",
    "PASSTHROUGH_MODULES",
    "build_worker",
    "run_worker",
    "sandboxed_runner",
]

PACKAGE_WORKFLOWS: tuple[type, ...] = (HealthCheckWorkflow, FanOutBatch, ApprovalInbox)
"""Workflows agenthub itself ships, registered on every worker."""

PACKAGE_ACTIVITIES: tuple[Callable[..., Any], ...] = (
    health_check_activity,
    register_approval,
    unregister_approval,
)
"""Activities agenthub itself ships, registered on every worker."""


PASSTHROUGH_MODULES: tuple[str, ...] = ("agenthub", "pydantic", "pydantic_core", "rich")
"""Modules the workflow sandbox imports once and shares, instead of once per workflow run.

They are deterministic libraries; re-importing them for every run costs seconds of CPU per
workflow task under load (measured: 8 s tasks with 50 concurrent workflows).
"""


def sandboxed_runner(*extra_passthrough: str) -> SandboxedWorkflowRunner:
    """The SDK's sandbox with :data:`PASSTHROUGH_MODULES` (plus any given) passed through."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            *PASSTHROUGH_MODULES, *extra_passthrough
        )
    )


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

    Synchronous activities get a thread pool unless ``activity_executor`` is given; workflows
    run in the SDK's sandbox with agenthub's dependencies passed through
    (:func:`sandboxed_runner`) unless ``workflow_runner`` is given.
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
    worker_options.setdefault("workflow_runner", sandboxed_runner())
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
