"""What the routers share: the hub's state on the app, the error shape, authentication."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from agenthub.agents.hub import HubTasks
from agenthub.agents.shared_events import SharedEvents
from agenthub.agents.webhooks import WebhookSpec
from agenthub.errors import BodyTooLarge, WorkflowBusy
from agenthub.runtime.tokens import TokenStore

T = TypeVar("T")


class _Turns:
    def __init__(self, slots: int) -> None:
        self.slots = asyncio.Semaphore(slots)
        self.users = 0


class UpdateGate:
    """Requests that send an update to one workflow take turns inside this API process.

    The server holds at most 10 updates in flight per workflow and refuses the 11th with
    ``RESOURCE_EXHAUSTED``: fifty people deciding one approval at once would otherwise get
    500s. Here at most ``per_workflow`` of them are in flight per workflow (room is left for
    other API replicas and event readers), the rest wait their turn; a refusal that still
    comes (other replicas) is retried briefly, then answered 429 with ``Retry-After``, as
    is a request that finds ``max_waiting`` others already waiting.

    Example::

        result = await gate.call(workflow_id, lambda: handle.execute_update(...))
    """

    def __init__(self, per_workflow: int = 4, max_waiting: int = 500) -> None:
        self.per_workflow = per_workflow
        self.max_waiting = max_waiting
        self._turns: dict[str, _Turns] = {}

    @contextlib.asynccontextmanager
    async def turn(self, workflow_id: str) -> AsyncIterator[None]:
        """Wait for this request's turn to send to ``workflow_id``.

        Raises:
            WorkflowBusy: ``max_waiting`` requests wait for that workflow already.
        """
        turns = self._turns.get(workflow_id)
        if turns is None:
            turns = self._turns[workflow_id] = _Turns(self.per_workflow)
        if turns.users >= self.max_waiting + self.per_workflow:
            raise WorkflowBusy(
                f"{turns.users} requests are waiting on workflow {workflow_id!r}; retry in "
                f"{WorkflowBusy.retry_after}s"
            )
        turns.users += 1
        try:
            async with turns.slots:
                yield
        finally:
            turns.users -= 1
            if turns.users == 0 and self._turns.get(workflow_id) is turns:
                del self._turns[workflow_id]

    async def call(self, workflow_id: str, send: Callable[[], Awaitable[T]]) -> T:
        """``await send()`` in turn; a ``RESOURCE_EXHAUSTED`` refusal is retried briefly.

        Raises:
            WorkflowBusy: the server still refused after the retries.
        """
        async with self.turn(workflow_id):
            for pause in (0.1, 0.3, 0.6, 1.0, None):
                try:
                    return await send()
                except RPCError as err:
                    if err.status != RPCStatusCode.RESOURCE_EXHAUSTED:
                        raise
                    if pause is None:
                        raise WorkflowBusy(
                            f"workflow {workflow_id!r} has too many requests in flight "
                            f"({err.message}); retry in {WorkflowBusy.retry_after}s"
                        ) from None
                await asyncio.sleep(pause)
        raise AssertionError("unreachable: the last pause raises")


@dataclass(frozen=True)
class HubState:
    """What every route needs, kept on ``app.state.hub`` by :func:`create_app`."""

    client: Client
    secrets: Sequence[str]
    task_queue: str
    api_key: str
    max_body: int = 1024 * 1024
    """Largest request body read, in bytes."""
    tokens: TokenStore | None = None
    """API tokens, each acting as its identity."""
    agents: Callable[[], Collection[str]] | None = None
    """The agent names tasks may name (``None``: not checked before starting)."""
    ui_url: str = ""
    """The Temporal web UI, for links."""
    shared_events: SharedEvents | None = None
    """One event subscription per task for all SSE readers."""
    teams: Callable[[], Collection[str]] | None = None
    """The team names a task may name instead of an agent."""
    gate: UpdateGate = field(default_factory=UpdateGate)
    """Updates to one workflow take turns (the server's limit of 10 in flight)."""
    deployment: str = ""
    """The Worker Deployment whose current version new tasks are pinned to (``""``: none)."""
    hooks: Mapping[str, WebhookSpec] = field(default_factory=dict)
    """The webhooks served at ``POST /hooks/{name}``, by name."""
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server shuts down: open event streams end (their readers reconnect
    elsewhere, with ``Last-Event-ID``) instead of holding the shutdown up."""


async def while_open(request: Request, source: AsyncIterator[T]) -> AsyncIterator[T]:
    """``source``'s items until it ends or the API shuts down (:attr:`HubState.closing`)."""
    closing = asyncio.ensure_future(hub(request).closing.wait())
    step: asyncio.Future[T] | None = None
    try:
        while True:
            step = asyncio.ensure_future(anext(source))
            await asyncio.wait([step, closing], return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                return
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        # The reader left, or the API stops: ``source`` is idle again before anyone closes it.
        closing.cancel()
        if step is not None and not step.done():
            step.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await step


class ErrorBody(BaseModel):
    """Every error's shape."""

    error: str
    """The error's type, e.g. ``TaskNotFound``."""
    message: str
    """What is wrong and how to fix it."""


def errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` documenting ``statuses`` with :class:`ErrorBody`."""
    return {status: {"model": ErrorBody} for status in statuses}


@dataclass(frozen=True)
class Principal:
    """Who sent a request, as authentication established it.

    ``via`` is ``"token"`` (an API token: ``identity`` and ``tenant`` are the token's),
    ``"api-key"`` (the shared service key: a trusted front end that names the person it
    acts for) or ``"open"`` (no authentication configured: loopback only, see SECURITY.md).
    """

    via: str
    identity: str = ""
    tenant: str = "default"

    def sees(self, workflow_id: str) -> bool:
        """Whether this principal may see a workflow: a token sees its tenant's hub
        workflows (``hub/<tenant>/...``); the default tenant also sees workflows outside the
        hub's ids; the service key and an open API see everything."""
        if self.via != "token":
            return True
        if workflow_id.startswith("hub/"):
            return workflow_id.startswith(f"hub/{self.tenant}/")
        return self.tenant == "default"

    @property
    def names_its_identity(self) -> bool:
        """Whether the request itself may say who decides (not bound to a token)."""
        return self.via != "token"


async def read_body(request: Request, too_large: Callable[[str], Exception] | None = None) -> bytes:
    """The request's raw body, read up to the API's body limit (``AGENTHUB_API_MAX_BODY``);
    past it, ``too_large(message)`` is raised (default :class:`BodyTooLarge`) before more
    is read."""
    limit = hub(request).max_body
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            message = f"the body passes the limit of {limit} bytes (AGENTHUB_API_MAX_BODY)"
            raise (too_large or BodyTooLarge)(message)
    return bytes(body)


def hub(request: Request) -> HubState:
    """The hub's state of the app serving ``request``."""
    state: HubState = request.app.state.hub
    return state


def tasks_of(request: Request) -> HubTasks:
    """The hub's tasks and sessions in the tenant of the request's principal."""
    state = hub(request)
    return HubTasks(
        state.client,
        tenant=principal(request).tenant,
        task_queue=state.task_queue,
        agents=state.agents() if state.agents is not None else None,
        ui_url=state.ui_url,
        shared_events=state.shared_events,
        teams=state.teams() if state.teams is not None else (),
        gate=state.gate.call,
        deployment=state.deployment,
    )


def error_response(
    status: int, error: str, message: str, *, headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    """Every error has this one JSON shape: ``{"error": <type>, "message": <what to fix>}``
    (``extra`` adds documented fields, e.g. the ``decision`` that stands)."""
    return JSONResponse(
        status_code=status, content={"error": error, "message": message, **extra}, headers=headers
    )


def principal(request: Request) -> Principal:
    """The principal :func:`authenticate` established for ``request``."""
    found: Principal = request.state.principal
    return found


async def authenticate(request: Request) -> None:
    """A dependency: establish the request's :class:`Principal`, or answer 401.

    Authentication is required once an API key is set or any API token exists. As a
    dependency it runs before the body is read or validated.
    """
    state = hub(request)
    tokens_exist = state.tokens is not None and state.tokens.has_tokens()
    if not state.api_key and not tokens_exist:
        request.state.principal = Principal("open")
        return
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() == "bearer" and presented:
        # Bytes, not str: compare_digest refuses non-ASCII text, and a header may carry any.
        raw = presented.strip().encode("utf-8", "surrogateescape")
        if state.api_key and hmac.compare_digest(raw, state.api_key.encode()):
            request.state.principal = Principal("api-key")
            return
        record = state.tokens.authenticate(presented.strip()) if state.tokens else None
        if record is not None:
            request.state.principal = Principal("token", record.identity, record.tenant)
            return
    raise HTTPException(
        401, "send Authorization: Bearer <token> (agenthub token create) or the AGENTHUB_API_KEY"
    )
