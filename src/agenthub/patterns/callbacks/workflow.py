"""The workflow side of callbacks: :func:`wait_for_callback`, and the updates that
complete a callback or revoke one of its tokens, refused in their validators before
anything is recorded.

Example::

    paid = await wait_for_callback(
        "payment", timeout=timedelta(days=7), request=send_invoice_link, payload=email
    )
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from agenthub.errors import (
    CallbackAlreadyCompleted,
    CallbackExpired,
    CallbackNotFound,
    CallbackRevoked,
    CallbackTimeout,
    InvalidCallbackData,
)
from agenthub.patterns.callbacks.tokens import CallbackRequest

__all__ = [
    "CALLBACK_REVOKE_UPDATE",
    "CALLBACK_UPDATE",
    "CallbackCompletion",
    "wait_for_callback",
]

CALLBACK_UPDATE = "agenthub.callback"
"""Name of the update that completes a callback."""

CALLBACK_REVOKE_UPDATE = "agenthub.callback.revoke"
"""Name of the update that revokes one token of a pending callback."""

_RAISE: Any = object()


@dataclass
class CallbackCompletion:
    """The argument of the completion update."""

    callback_id: str
    name: str
    data: Any = None
    token_id: str = ""
    """:func:`token_id` of the token that carried it; a revoked one is refused."""


@dataclass
class Revocation:
    """The argument of the revocation update."""

    callback_id: str
    token_id: str


@dataclass
class _Callbacks:
    pending: dict[str, str] = field(default_factory=dict)  # callback id -> name
    results: dict[str, Any] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    standing: dict[str, Any] = field(default_factory=dict)
    """Data of completed callbacks (small ones): a refused second completion names it."""
    expired: set[str] = field(default_factory=set)
    checks: dict[str, Callable[[Any], None]] = field(default_factory=dict)  # id -> validate
    revoked: set[str] = field(default_factory=set)  # token ids


_STANDING_LIMIT = 4096
"""Largest completion (its ``repr``) a workflow keeps to report with a refused second one."""


def _state() -> _Callbacks:
    instance = workflow.instance()
    state: _Callbacks | None = getattr(instance, "_agenthub_callbacks", None)
    if state is None:
        state = _Callbacks()
        instance._agenthub_callbacks = state

        def refuse_unless_pending(cid: str, name: str | None) -> None:
            if cid in state.used:
                # The data that stands travels with the refusal (a second approver sees
                # the decision that won).
                raise ApplicationError(
                    "callback already completed",
                    state.standing.get(cid),
                    type=CallbackAlreadyCompleted.__name__,
                )
            if cid in state.expired:
                raise ApplicationError("callback timed out", type=CallbackExpired.__name__)
            if cid not in state.pending or name not in (None, state.pending[cid]):
                raise ApplicationError("no such callback pending", type=CallbackNotFound.__name__)

        def validate(completion: CallbackCompletion) -> None:
            cid = completion.callback_id
            refuse_unless_pending(cid, completion.name)
            if completion.token_id in state.revoked:
                raise ApplicationError("the token was revoked", type=CallbackRevoked.__name__)
            check = state.checks.get(cid)
            if check is not None:
                try:
                    check(completion.data)
                except Exception as err:  # refused before acceptance: no history, still waiting
                    message = err.message if isinstance(err, ApplicationError) else str(err)
                    raise ApplicationError(
                        message or "the data was refused", type=InvalidCallbackData.__name__
                    ) from None

        def complete(completion: CallbackCompletion) -> str:
            state.used.add(completion.callback_id)
            state.results[completion.callback_id] = completion.data
            if len(repr(completion.data)) <= _STANDING_LIMIT:
                state.standing[completion.callback_id] = completion.data
            state.pending.pop(completion.callback_id, None)
            state.checks.pop(completion.callback_id, None)
            return "accepted"

        def validate_revocation(revocation: Revocation) -> None:
            refuse_unless_pending(revocation.callback_id, None)

        def revoke(revocation: Revocation) -> str:
            state.revoked.add(revocation.token_id)
            return "revoked"

        workflow.set_update_handler(CALLBACK_UPDATE, complete, validator=validate)
        workflow.set_update_handler(CALLBACK_REVOKE_UPDATE, revoke, validator=validate_revocation)
    return state


async def wait_for_callback(
    name: str,
    *,
    timeout: timedelta,
    request: Callable[..., Any] | str | None = None,
    payload: Any = None,
    default: Any = _RAISE,
    request_timeout: timedelta = timedelta(minutes=1),
    request_retry_policy: Any = None,
    callback_id: str | None = None,
    validate: Callable[[Any], None] | None = None,
) -> Any:
    """Run ``request`` with a :class:`CallbackRequest`, then wait for the completion's data.

    Args:
        name: what is awaited (part of the token; several callbacks may wait at once).
        timeout: how long to wait, durably (a 7-day timeout survives restarts).
        request: the activity that sends the request (it gets a :class:`CallbackRequest`);
            ``None`` when the token is delivered another way (e.g. read by a query).
        payload: passed to the request activity in ``CallbackRequest.payload``.
        default: returned on timeout; without it a :class:`CallbackTimeout` is raised.
        callback_id: the id to use (unique in the workflow); default ``workflow.uuid4()``.
        validate: checks the completion's data in the update's validator (deterministic, no
            I/O); raising refuses the completion before it is accepted (HTTP 422, nothing
            recorded, the callback still pending).

    Raises:
        CallbackTimeout: (non-retryable) nothing came within ``timeout``.
    """
    state = _state()
    info = workflow.info()
    callback_id = callback_id or str(workflow.uuid4())
    expires_at = workflow.now() + timeout
    state.pending[callback_id] = name
    if validate is not None:
        state.checks[callback_id] = validate
    req = CallbackRequest(info.workflow_id, name, callback_id, expires_at, payload, info.run_id)
    if request is not None:
        from agenthub.patterns import retry

        await workflow.execute_activity(
            request,
            req,
            start_to_close_timeout=request_timeout,
            retry_policy=request_retry_policy or retry.preset("EXTERNAL_API"),
        )
    try:
        await workflow.wait_condition(lambda: callback_id in state.results, timeout=timeout)
    except TimeoutError:
        state.pending.pop(callback_id, None)
        state.expired.add(callback_id)
        if default is not _RAISE:
            return default
        raise CallbackTimeout(f"no answer to callback {name!r} within {timeout}") from None
    return state.results.pop(callback_id)
