"""Entity workflows, the client side: send messages to entities, starting them when needed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agenthub.errors import ConfigurationError, InvalidInput
from agenthub.patterns.entity.workflow import (
    ENTITY_CONTINUING_ERROR,
    ENTITY_SIGNAL,
    Entity,
    EntityStart,
    SignalEnvelope,
)

__all__ = ["EntityClient"]

R = TypeVar("R")
W = TypeVar("W")


_RESEND_STATUSES = frozenset(
    {
        RPCStatusCode.RESOURCE_EXHAUSTED,  # the server's cap on in-flight updates (10)
        RPCStatusCode.UNAVAILABLE,  # update aborted while the run closed
        RPCStatusCode.NOT_FOUND,  # the run closed under us (continue-as-new, passivation)
        RPCStatusCode.FAILED_PRECONDITION,
    }
)


def _consume_start_error(start: WithStartWorkflowOperation[Any, Any]) -> None:
    """Mark a failed start operation's error as seen: the same failure was raised by the
    update call, and asyncio would otherwise report it as never retrieved."""
    handle = getattr(start, "_workflow_handle", None)  # the SDK keeps it in a future
    if isinstance(handle, asyncio.Future) and handle.done() and not handle.cancelled():
        handle.exception()


def _worth_resending(err: BaseException) -> bool:
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        return isinstance(cause, ApplicationError) and cause.type == ENTITY_CONTINUING_ERROR
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return True
    return isinstance(err, RPCError) and err.status in _RESEND_STATUSES


class EntityClient(Generic[W]):
    """Send messages to entities of one workflow class, starting them when needed.

    The workflow id is ``<entity type>:<entity id>`` (the type defaults to the workflow
    name). A message goes to the running entity; when no run is open, it goes again with
    update-with-start or signal-with-start (id conflict policy USE_EXISTING), which starts
    the entity. Messages turned away during continue-as-new are retried onto the next run.

    Args:
        client: a connected client.
        workflow_class: the entity's ``@workflow.defn`` class.
        task_queue: where the entity's workflows run.
        entity_type: prefix of workflow ids; default the workflow type name.
    """

    def __init__(
        self,
        client: Client,
        workflow_class: type[W],
        *,
        task_queue: str,
        entity_type: str | None = None,
    ) -> None:
        defn = workflow._Definition.from_class(workflow_class)
        if defn is None or not (
            isinstance(workflow_class, type) and issubclass(workflow_class, Entity)
        ):
            raise ConfigurationError(
                f"{workflow_class.__name__} must be an Entity subclass decorated with "
                "@workflow.defn"
            )
        self.client = client
        self.workflow_class = workflow_class
        self.task_queue = task_queue
        self.entity_type = entity_type or defn.name or workflow_class.__name__
        self.retried = 0
        """How many sends were turned away during continue-as-new and sent again."""

    def workflow_id(self, entity_id: str) -> str:
        """The workflow id of ``entity_id``."""
        if not entity_id:
            raise InvalidInput("entity id must not be empty")
        return f"{self.entity_type}:{entity_id}"

    def handle(self, entity_id: str) -> WorkflowHandle[W, Any]:
        """A handle on the entity's current run (for queries, describe, cancel)."""
        return self.client.get_workflow_handle_for(
            self.workflow_class.run,  # type: ignore[attr-defined]
            self.workflow_id(entity_id),
        )

    def _start(self, entity_id: str) -> WithStartWorkflowOperation[W, Any]:
        return WithStartWorkflowOperation(
            self.workflow_class.run,  # type: ignore[attr-defined]
            EntityStart(entity_id=entity_id),
            id=self.workflow_id(entity_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    async def update(
        self,
        entity_id: str,
        update: workflow.UpdateMethodMultiParam[..., R] | Callable[..., Awaitable[R]],
        *args: Any,
        message_id: str | None = None,
        attempts: int = 50,
    ) -> R:
        """Apply an update to the entity (starting it if needed) and return its result.

        ``message_id`` makes the message idempotent: sending it again returns the first
        result. Without it a random id is used (retries inside this call still dedupe).
        """
        message_id = message_id or str(uuid.uuid4())
        delay = 0.05
        # A plain update while a run is open: the server handles it with less work than
        # update-with-start (benchmarks/entity_updates.py: 1.15-1.2x the updates/s). Only
        # when no run is open does the message go with the entity's start.
        handle: Any = self.client.get_workflow_handle(self.workflow_id(entity_id))
        with_start = False
        attempt = 0
        while True:
            start = self._start(entity_id) if with_start else None
            try:
                if start is None:
                    result: R = await handle.execute_update(update, args=list(args), id=message_id)
                    return result
                client: Any = self.client  # the SDK's overloads cannot see through R
                result = await client.execute_update_with_start_workflow(
                    update,
                    args=list(args),
                    start_workflow_operation=start,
                    id=message_id,
                )
                return result
            except (
                WorkflowUpdateFailedError,
                WorkflowUpdateRPCTimeoutOrCancelledError,
                RPCError,
            ) as err:
                if start is not None:
                    _consume_start_error(start)
                elif isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND:
                    with_start = True  # no open run: start the entity with this message
                    continue
                attempt += 1
                # Resending is safe: the message id dedupes it in the entity.
                if not _worth_resending(err) or attempt >= attempts:
                    raise
            self.retried += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def signal(
        self,
        entity_id: str,
        signal: Callable[..., Any] | str,
        *args: Any,
        message_id: str | None = None,
    ) -> None:
        """Signal the entity, starting it if it is not running.

        ``message_id`` deduplicates the signal like an update id (an ``@entity_signal``
        whose first argument has a ``message_id`` field is deduplicated by that field
        already). A plain signal first (the common case, and lighter on the server), then
        signal-with-start when no run of the entity is open.
        """
        name = signal if isinstance(signal, str) else getattr(signal, "__name__", str(signal))
        defn = getattr(signal, "__temporal_signal_definition", None)
        name = getattr(defn, "name", None) or name
        sent_args = list(args)
        if message_id is not None:
            if not message_id:
                raise InvalidInput("message_id must not be empty")
            sent_args = [SignalEnvelope(name=name, message_id=message_id, args=sent_args)]
            name = ENTITY_SIGNAL
        try:
            handle = self.client.get_workflow_handle(self.workflow_id(entity_id))
            await handle.signal(name, *sent_args)
            return
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        await self.client.start_workflow(
            self.workflow_class.run,  # type: ignore[attr-defined]
            EntityStart(entity_id=entity_id),
            id=self.workflow_id(entity_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=name,
            start_signal_args=sent_args,
        )

    async def query(self, entity_id: str, query: Callable[..., R], *args: Any) -> R:
        """Run a query on the entity's current run."""
        handle: Any = self.handle(entity_id)
        result: R = await handle.query(query, *args)
        return result
