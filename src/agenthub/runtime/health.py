"""A round trip through workflow and activity workers, to prove a deployment works.

``agenthub up`` runs it once the worker starts; ``check_worker`` does it from any client.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy

__all__ = ["HealthCheckResult", "HealthCheckWorkflow", "check_worker", "health_check_activity"]


@dataclass(frozen=True)
class HealthCheckResult:
    """What a worker reported back."""

    activity_host: str
    """Host name of the process that ran the activity."""
    workflow_run_id: str
    """Run id of the health check workflow (look it up in the web UI)."""
    round_trip_ms: float = 0.0
    """Client-observed time from start to result, filled in by :func:`check_worker`."""


@activity.defn(name="agenthub.health_check")
async def health_check_activity() -> str:
    """Report the host running activities."""
    return socket.gethostname()


@workflow.defn(name="agenthub.HealthCheck")
class HealthCheckWorkflow:
    """Runs :func:`health_check_activity` once and returns who ran it."""

    @workflow.run
    async def run(self) -> HealthCheckResult:
        host = await workflow.execute_activity(
            health_check_activity,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return HealthCheckResult(activity_host=host, workflow_run_id=workflow.info().run_id)


async def check_worker(
    client: Client, task_queue: str, *, timeout: float = 30.0
) -> HealthCheckResult:
    """Run :class:`HealthCheckWorkflow` on ``task_queue`` and wait for its result."""
    started = time.perf_counter()
    result = await client.execute_workflow(
        HealthCheckWorkflow.run,
        id=f"agenthub-health-{time.time_ns()}",
        task_queue=task_queue,
        execution_timeout=timedelta(seconds=timeout),
    )
    return HealthCheckResult(
        activity_host=result.activity_host,
        workflow_run_id=result.workflow_run_id,
        round_trip_ms=(time.perf_counter() - started) * 1000,
    )
