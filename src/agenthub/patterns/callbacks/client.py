"""The client side of callbacks: deliver a completion (with its token, or trusted), revoke
a token; every refusal a typed :class:`~agenthub.errors.CallbackError` with its HTTP code.

Example::

    await complete_callback(client, token, {"paid": True}, secrets=settings.callback_secrets())
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agenthub.errors import (
    CallbackAlreadyCompleted,
    CallbackError,
    CallbackExpired,
    CallbackNotFound,
    CallbackRevoked,
    InvalidCallbackData,
    WorkerUnavailable,
)
from agenthub.patterns.callbacks.tokens import CallbackClaims, token_id, verify_token
from agenthub.patterns.callbacks.workflow import (
    CALLBACK_REVOKE_UPDATE,
    CALLBACK_UPDATE,
    CallbackCompletion,
    Revocation,
)

__all__ = [
    "MAX_DATA_DEPTH",
    "complete_callback",
    "completion_update_id",
    "deliver_completion",
    "revoke_callback_token",
]


_ERRORS: dict[str, type[CallbackError]] = {
    cls.__name__: cls
    for cls in (
        CallbackAlreadyCompleted,
        CallbackExpired,
        CallbackNotFound,
        CallbackRevoked,
        InvalidCallbackData,
    )
}


MAX_DATA_DEPTH = 128
"""Deepest nesting of a completion's data: the workers' JSON decoder stops at 200 levels
for the whole update, so deeper data would be refused only after it was sent."""


def _nesting_depth(value: Any, limit: int) -> int:
    """How deeply lists and dicts nest in ``value`` (iterative; stops past ``limit``)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def completion_update_id(completion: CallbackCompletion) -> str:
    """The update id of a completion: the same completion sent twice is one update, so a
    resend (after a timeout, or a webhook retried by its sender) reports the first outcome
    instead of applying twice or being refused as used; other data is another update."""
    body = json.dumps(
        {"name": completion.name, "data": completion.data}, sort_keys=True, default=repr
    )
    digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{CALLBACK_UPDATE}:{completion.callback_id}:{digest}"


async def _send(
    client: Client,
    workflow_id: str,
    run_id: str,
    update: str,
    arg: Any,
    *,
    update_id: str,
    timeout: float,
    what: str,
    noun: str,
) -> None:
    """Send a callback update, turning refusals into :class:`CallbackError`."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id or None)
    try:
        await handle.execute_update(
            update, arg, id=update_id, rpc_timeout=timedelta(seconds=timeout)
        )
    except (RecursionError, ValueError, TypeError, UnicodeError) as err:
        # The data could not be encoded (too deep, a lone surrogate ...): nothing was sent.
        raise InvalidCallbackData(
            f"{what}: the data cannot be encoded ({type(err).__name__}: {str(err)[:200]}); "
            "send plain JSON"
        ) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise WorkerUnavailable(
            f"workflow {workflow_id!r} did not confirm the {noun} within {timeout:.0f}s: is a "
            "worker running on its task queue? The server keeps it until a worker takes it; "
            f"send the same {noun} again to see the outcome."
        ) from None
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in _ERRORS:
            refusal = _ERRORS[cause.type](f"{what}: {cause.message}")
            if cause.details:
                refusal.standing = cause.details[0]
            raise refusal from None
        if isinstance(cause, ApplicationError) and "Failed decoding arguments" in cause.message:
            # The worker could not read what the client could write: refused, not recorded.
            raise InvalidCallbackData(f"{what}: the worker cannot decode the data") from None
        if isinstance(cause, ApplicationError) and "expected but not found" in cause.message:
            # The id names a workflow that is not waiting on any callback (another type).
            raise CallbackNotFound(
                f"workflow {workflow_id!r} has no callback waiting (it has no {update} handler)"
            ) from None
        raise
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        run = f" (run {run_id})" if run_id else ""
        if isinstance(arg, CallbackCompletion):
            # The run has ended: if this callback was completed in it, the answer is the
            # same 409 as while it ran, whoever asks and however late.
            found = await _completion_in_history(client, handle, arg.callback_id)
            if found is not _MISSING and update == CALLBACK_UPDATE and found == arg.data:
                return  # the same completion again: its outcome stands, as while it ran
            if found is not _MISSING:
                refusal = CallbackAlreadyCompleted(
                    f"{what}: callback already completed (workflow {workflow_id!r}{run} has "
                    "ended since)"
                )
                refusal.standing = found
                raise refusal from None
        raise CallbackNotFound(
            f"workflow {workflow_id!r}{run} is not running; its callbacks are closed"
        ) from None


_MISSING: Any = object()


async def _completion_in_history(client: Client, handle: Any, callback_id: str) -> Any:
    """The data that completed ``callback_id`` in the closed run of ``handle`` (read from
    its accepted updates), or ``_MISSING``."""
    try:
        async for event in handle.fetch_history_events():
            if not event.HasField("workflow_execution_update_accepted_event_attributes"):
                continue
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name != CALLBACK_UPDATE or not request.input.args.payloads:
                continue
            [completion] = await client.data_converter.decode(
                [request.input.args.payloads[0]], [CallbackCompletion]
            )
            if completion.callback_id == callback_id:
                return completion.data
    except RPCError:
        pass  # no history to read (never existed, or deleted by retention)
    return _MISSING


async def deliver_completion(
    client: Client,
    workflow_id: str,
    completion: CallbackCompletion,
    *,
    run_id: str = "",
    timeout: float = 30.0,
    update_id: str | None = None,
) -> None:
    """Send a completion to ``workflow_id`` (``run_id``: only that run), for trusted
    callers: the token is already checked, or the caller has server credentials.

    ``update_id`` defaults to :func:`completion_update_id` (the same completion sent again
    reports the first outcome); a fresh id per sender makes every later sender, with the
    same data or not, get :class:`CallbackAlreadyCompleted` (approvals do this).

    Raises:
        CallbackNotFound (404), CallbackAlreadyCompleted (409, its ``standing`` is the data
        that completed it), CallbackExpired (410), CallbackRevoked (401),
        InvalidCallbackData (422).
        WorkerUnavailable (503): no worker confirmed the completion within ``timeout``
            seconds. The server keeps it and it applies when the workflow's worker takes
            it (unless the server restarts first); sending the same completion again is
            safe and reports the outcome.
    """
    if _nesting_depth(completion.data, MAX_DATA_DEPTH) > MAX_DATA_DEPTH:
        raise InvalidCallbackData(
            f"callback {completion.name!r}: the data nests more than {MAX_DATA_DEPTH} levels "
            "deep; send flatter JSON"
        )
    await _send(
        client,
        workflow_id,
        run_id,
        CALLBACK_UPDATE,
        completion,
        update_id=update_id or completion_update_id(completion),
        timeout=timeout,
        what=f"callback {completion.name!r}",
        noun="completion",
    )


async def complete_callback(
    client: Client, token: str, data: Any, *, secrets: Sequence[str], timeout: float = 30.0
) -> CallbackClaims:
    """Verify ``token`` and deliver ``data`` to the waiting workflow run.

    Raises:
        InvalidCallbackToken (401), CallbackRevoked (401), CallbackNotFound (404),
        CallbackAlreadyCompleted (409), CallbackExpired (410), InvalidCallbackData (422):
        nothing was delivered.
    """
    claims = verify_token(token, secrets)
    completion = CallbackCompletion(claims.callback_id, claims.name, data, token_id(token))
    await deliver_completion(
        client, claims.workflow_id, completion, run_id=claims.run_id, timeout=timeout
    )
    return claims


async def revoke_callback_token(
    client: Client, token: str, *, secrets: Sequence[str], timeout: float = 30.0
) -> CallbackClaims:
    """Revoke ``token``: its waiting workflow refuses it from now on (a leaked link).

    The callback stays pending; another token for it (minted by the workflow's request
    activity) still completes it. Revoking twice is harmless.

    Raises:
        InvalidCallbackToken (401), CallbackExpired (410): the token is not a live one.
        CallbackNotFound (404), CallbackAlreadyCompleted (409): nothing is left to revoke.
    """
    claims = verify_token(token, secrets)
    tid = token_id(token)
    await _send(
        client,
        claims.workflow_id,
        claims.run_id,
        CALLBACK_REVOKE_UPDATE,
        Revocation(claims.callback_id, tid),
        update_id=f"{CALLBACK_REVOKE_UPDATE}:{tid}",
        timeout=timeout,
        what=f"callback {claims.name!r}",
        noun="revocation",
    )
    return claims
