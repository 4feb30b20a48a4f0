"""``agenthub cluster check``: does every shared part of a hub on many machines answer?

Against the Temporal server the SDK's env config names (``TEMPORAL_ADDRESS``,
``temporal.toml``), one line per part: the namespace, the search attributes the hub's
listing uses, the payload store (a probe object written and read back), the ledger, the
API tokens, the callback secret, and what the cluster profile would refuse at start.

Example::

    for check in await check_cluster(Settings.from_env()):
        print("ok" if check.ok else "FAIL", check.part, check.detail)
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from agenthub.errors import ConfigurationError
from agenthub.patterns.ledger import open_ledger
from agenthub.runtime.connect import connect, load_connect_config
from agenthub.runtime.settings import Settings

__all__ = ["ClusterCheck", "check_cluster", "promote"]


@dataclass(frozen=True)
class ClusterCheck:
    """One part of the hub and how it answered."""

    part: str
    ok: bool
    detail: str


async def _namespace(settings: Settings) -> ClusterCheck:
    config = load_connect_config(settings)
    namespace = config.get("namespace") or "default"
    try:
        client = await connect(settings)
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), timeout=timedelta(seconds=10)
        )
    except RPCError as err:
        return ClusterCheck("namespace", False, f"{namespace!r}: {err.message}")
    except Exception as err:  # cannot connect: the one line says why
        return ClusterCheck("namespace", False, f"{namespace!r}: {err}")
    days = described.config.workflow_execution_retention_ttl.ToTimedelta().days
    return ClusterCheck(
        "namespace", True, f"{namespace!r} on {config['target_host']} (retention {days} d)"
    )


async def _payload_store(settings: Settings, address: str) -> ClusterCheck:
    store = settings.store
    if not store.shared:
        return ClusterCheck(
            "payload store", not settings.is_cluster(address),
            f"{settings.data_dir / 'payloads'} on this machine only",
        )  # fmt: skip
    key = f"agenthub-check/{uuid.uuid4().hex}"
    probe = b"agenthub cluster check"
    try:
        if store.kind == "s3":
            client = store.s3_client()
            await client.put_object(bucket=store.bucket, key=key, data=probe)
            back = await client.get_object(bucket=store.bucket, key=key)
        else:
            assert store.path is not None
            path = store.path / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(probe)
            back = path.read_bytes()
            path.unlink()
    except Exception as err:  # the store's own error, in one line
        return ClusterCheck("payload store", False, f"{store.describe()}: {err}")
    ok = back == probe
    return ClusterCheck(
        "payload store", ok, f"{store.describe()}: a probe written and read back"
        if ok else f"{store.describe()}: the probe read back differs",
    )  # fmt: skip


async def _ledger(settings: Settings, address: str) -> ClusterCheck:
    where = "PostgreSQL" if settings.ledger_is_shared else settings.ledger_location
    try:
        ledger = open_ledger(settings.ledger_location)
        await ledger.get("agenthub-cluster-check")
    except Exception as err:
        return ClusterCheck("ledger", False, f"{where}: {err}")
    shared = settings.ledger_is_shared or not settings.is_cluster(address)
    return ClusterCheck("ledger", shared, f"{where} answers")


def _tokens(settings: Settings) -> ClusterCheck:
    try:
        store = settings.api_tokens()
        active = sum(1 for t in store.list() if t.active)
    except Exception as err:
        return ClusterCheck("api tokens", False, str(err))
    return ClusterCheck("api tokens", True, f"{active} active in {store.location}")


def _address(settings: Settings) -> str:
    return str(load_connect_config(settings)["target_host"])


async def check_cluster(settings: Settings) -> list[ClusterCheck]:
    """Check every shared part (see the module docstring); never raises for a part that
    does not answer: its line says why."""
    address = _address(settings)
    checks = [
        await _namespace(settings),
        ClusterCheck(
            "search attributes",
            True,
            "the hub lists tasks by built-in attributes (WorkflowType, WorkflowId, "
            "ExecutionStatus): nothing to register",
        ),
        await _payload_store(settings, address),
        await _ledger(settings, address),
        await asyncio.to_thread(_tokens, settings),
    ]
    try:
        source = settings.callback_secret_source
        settings.callback_secrets()
        secret_ok = bool(settings.callback_secret or settings.callback_secret_file)
        checks.append(
            ClusterCheck("callback secret", secret_ok or not settings.is_cluster(address), source)
        )
    except Exception as err:
        checks.append(ClusterCheck("callback secret", False, str(err)))
    problems = settings.shared_state_problems(address)
    profile = "cluster" if settings.is_cluster(address) else "single machine"
    checks.append(
        ClusterCheck(
            "profile",
            not problems,
            f"{profile}: " + ("; ".join(problems) if problems else "every role may start"),
        )
    )
    return checks


async def promote(client: Client, deployment: str, build_id: str) -> str:
    """Make ``build_id`` the current version of the Worker Deployment ``deployment``: new
    tasks (and agenthub's entities, which auto-upgrade) run on its workers; tasks pinned to
    an older version finish there, so keep its workers until they drain.

    Raises:
        ConfigurationError: no worker of that version has polled the server yet (start the
            new workers, with ``AGENTHUB_BUILD_ID``, first).
    """
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace, deployment_name=deployment, build_id=build_id,
        identity="agenthub cluster promote",
    )  # fmt: skip
    for pause in (0.2, 0.5, 1.0, 2.0, None):  # a new worker's first poll registers it
        try:
            await client.workflow_service.set_worker_deployment_current_version(request)
            break
        except RPCError as err:
            retryable = err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)
            if not retryable:
                raise
            if pause is None:
                raise ConfigurationError(
                    f"no worker of build {build_id!r} in deployment {deployment!r} has polled "
                    f"the server ({err.message}): start them first, with AGENTHUB_BUILD_ID="
                    f"{build_id} and AGENTHUB_DEPLOYMENT_NAME={deployment}"
                ) from None
            await asyncio.sleep(pause)
    pinned = 0
    query = (
        f'ExecutionStatus = "Running" AND TemporalWorkerDeployment = "{deployment}" '
        'AND TemporalWorkflowVersioningBehavior = "Pinned"'
    )
    async for execution in client.list_workflows(query):
        version = execution.search_attributes.get("TemporalWorkerDeploymentVersion")
        if version and not str(version[0]).endswith(f":{build_id}"):
            pinned += 1
    return (
        f"build {build_id!r} is the current version of {deployment!r}; {pinned} running "
        "workflow(s) pinned to older versions: keep their workers until they finish"
    )
