"""Workers with agenthub's plugin, and loading user apps (``--app module[:attr]``).

A worker built here is a plain :class:`temporalio.worker.Worker` with
:class:`~agenthub.runtime.plugin.AgentHubPlugin` (taken from the client when it has one).

Example::

    client = await connect(settings)
    worker = build_worker(client, task_queue="orders", workflows=[Order], activities=[charge])
    await worker.run()
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.plugin import SimplePlugin
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Plugin as WorkerPlugin
from temporalio.worker import Worker, WorkerDeploymentConfig

from agenthub.errors import ConfigurationError
from agenthub.patterns._sdk import activity_name, workflow_name
from agenthub.runtime.connect import connect
from agenthub.runtime.imports import resolve_import
from agenthub.runtime.plugin import AgentHubPlugin
from agenthub.runtime.settings import Settings

__all__ = ["STICKY_TIMEOUT", "AppRegistrations", "build_worker", "load_apps", "run_worker"]


@dataclass
class AppRegistrations:
    """What ``--app`` specs contributed: workflows, activities and worker plugins."""

    workflows: list[type] = field(default_factory=list)
    activities: list[Callable[..., Any]] = field(default_factory=list)
    plugins: list[WorkerPlugin] = field(default_factory=list)

    def add(self, obj: Any, spec: str) -> None:
        """Register a workflow class, an activity, a worker plugin, or a sequence of them."""
        if workflow_name(obj) is not None:
            self.workflows.append(obj)
        elif activity_name(obj) is not None:
            self.activities.append(obj)
        elif isinstance(obj, WorkerPlugin):
            self.plugins.append(obj)
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                self.add(item, spec)
        else:
            raise ConfigurationError(
                f"--app {spec}: {obj!r} is not a @workflow.defn class, an @activity.defn "
                "function, a worker plugin or a list of them"
            )


def _is_own(obj: Any, module_name: str) -> bool:
    return getattr(obj, "__module__", None) == module_name


def load_apps(specs: Iterable[str]) -> AppRegistrations:
    """Import user code for a worker: ``pkg.module`` registers every workflow class, activity
    and SimplePlugin defined in that module; ``pkg.module:attr`` registers ``attr`` (a
    workflow, an activity, a plugin, or a list of them).

    Raises:
        ConfigurationError: a module cannot be imported or ``attr`` is missing or unusable.
    """
    found = AppRegistrations()
    for spec in specs:
        module, target = resolve_import(spec, where=f"--app {spec.strip()}")
        module_name = module.__name__
        if target is not None:
            found.add(target, spec)
            continue
        members = [obj for _, obj in inspect.getmembers(module) if _is_own(obj, module_name)]
        for obj in members:
            if workflow_name(obj) is not None or activity_name(obj) is not None:
                found.add(obj, spec)
        found.plugins += [
            obj
            for _, obj in inspect.getmembers(module)
            if isinstance(obj, SimplePlugin) and not isinstance(obj, AgentHubPlugin)
        ]
        if not (found.workflows or found.activities or found.plugins):
            raise ConfigurationError(
                f"--app {spec}: {module_name} defines no workflow, activity or plugin"
            )
    return found


def _has_agenthub_plugin(client: Client) -> bool:
    return any(isinstance(p, AgentHubPlugin) for p in client.config().get("plugins", ()))


STICKY_TIMEOUT = timedelta(seconds=3)
"""How long a workflow task waits on a worker's own (sticky) queue before any worker may
take it. The SDK's 10 s is what a task loses when its worker is killed: measured with
``benchmarks.agent_recovery``, a tool call killed mid-flight went on 18 s after the kill
with 10 s, and 11 s with 3 s."""


def build_worker(
    client: Client,
    settings: Settings | None = None,
    *,
    workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] = (),
    task_queue: str | None = None,
    plugins: Sequence[WorkerPlugin] = (),
    **worker_options: Any,
) -> Worker:
    """A Worker on ``task_queue`` (default: the settings' queue) with agenthub's plugin.

    The plugin comes from the client when it has one (``connect`` gives it), else it is
    added here. Other keyword arguments go to :class:`temporalio.worker.Worker` unchanged;
    ``sticky_queue_schedule_to_start_timeout`` defaults to :data:`STICKY_TIMEOUT`.
    """
    settings = settings or Settings.from_env()
    worker_options.setdefault("sticky_queue_schedule_to_start_timeout", STICKY_TIMEOUT)
    if settings.build_id and "deployment_config" not in worker_options:
        worker_options["deployment_config"] = deployment_config(settings)
    all_plugins = list(plugins)
    if not _has_agenthub_plugin(client):
        all_plugins.insert(0, AgentHubPlugin(settings))
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=list(workflows),
        activities=list(activities),
        plugins=all_plugins,
        **worker_options,
    )


def deployment_config(settings: Settings) -> WorkerDeploymentConfig:
    """The worker's version in its Worker Deployment. Workflows follow the current version
    (auto-upgrade) unless started pinned: the hub pins each agent task to the version that
    is current when it starts (:func:`current_version`), so it finishes on that code."""
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(settings.deployment_name, settings.build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
    )


_CURRENT: dict[tuple[str, str], tuple[float, WorkerDeploymentVersion | None]] = {}


async def current_version(client: Client, deployment: str) -> WorkerDeploymentVersion | None:
    """The current version of Worker Deployment ``deployment`` (``None``: none promoted
    yet), looked up at most every 2 seconds per deployment."""
    key = (client.namespace, deployment)
    seen = _CURRENT.get(key)
    now = time.monotonic()
    if seen is not None and now - seen[0] < 2.0:
        return seen[1]
    try:
        answer = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
        )
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        found = None
    else:
        current = answer.worker_deployment_info.routing_config.current_deployment_version
        found = WorkerDeploymentVersion(deployment, current.build_id) if current.build_id else None
    _CURRENT[key] = (now, found)
    return found


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
