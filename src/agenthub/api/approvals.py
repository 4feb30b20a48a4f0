"""Routes of human approvals: list pending ones, approve, reject."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from agenthub.api._shared import authenticate, error_response, hub, principal
from agenthub.errors import CallbackError, InvalidInput
from agenthub.patterns.approvals import decide, list_pending

router = APIRouter(prefix="/approvals", tags=["approvals"], dependencies=[Depends(authenticate)])


class Decision(BaseModel):
    """Body of an approval decision.

    With an API token the decider is the token's identity (``by`` may be left out, or must
    equal it); with the shared API key (a trusted front end) or no authentication, ``by``
    names the decider.
    """

    by: str = ""
    reason: str = ""


def _queue(request: Request) -> str:
    # Approvals live in an inbox per task queue: that of the workflows that asked.
    return request.query_params.get("task_queue", hub(request).task_queue)


@router.get("")
async def approvals(request: Request, inbox: str = "default") -> Any:
    """Pending approvals of ``inbox`` (``?task_queue=`` for another queue's inbox)."""
    pending = await list_pending(hub(request).client, task_queue=_queue(request), inbox=inbox)
    who = principal(request)
    return [to_jsonable_python(p) for p in pending if who.sees(p.workflow_id)]


def _decider(request: Request, body: Decision) -> str | JSONResponse:
    who = principal(request)
    if who.names_its_identity:
        if not body.by.strip():
            return error_response(
                422, "InvalidInput", "name the approver in 'by' (or use an API token, which "
                "decides as its own identity)",
            )  # fmt: skip
        return body.by
    if body.by and body.by != who.identity:
        return error_response(
            403, "IdentityMismatch",
            f"this token acts as {who.identity!r}; leave 'by' out or set it to {who.identity!r}",
        )  # fmt: skip
    return who.identity


async def _decide(request: Request, approval_id: str, body: Decision, approved: bool) -> Any:
    by = _decider(request, body)
    if isinstance(by, JSONResponse):
        return by
    client = hub(request).client
    inbox = request.query_params.get("inbox", "default")
    queue = _queue(request)
    pending = await list_pending(client, task_queue=queue, inbox=inbox)
    who = principal(request)
    match = next(
        (p for p in pending if p.approval_id == approval_id and who.sees(p.workflow_id)), None
    )
    if match is None:
        return error_response(
            404, "CallbackNotFound",
            f"no pending approval {approval_id!r} in inbox {inbox!r} of task queue {queue!r}",
        )  # fmt: skip
    try:
        decision = await decide(client, match, approved=approved, by=by, reason=body.reason)
    except InvalidInput as err:
        return error_response(403, "NotAnApprover", err.message)
    except CallbackError as err:
        return error_response(err.status, type(err).__name__, str(err))
    return to_jsonable_python(decision)


@router.post("/{approval_id}/approve")
async def approve(request: Request, approval_id: str, body: Decision) -> Any:
    """Approve, as the token's identity (or ``by``); it must be one of the approvers."""
    return await _decide(request, approval_id, body, True)


@router.post("/{approval_id}/reject")
async def reject(request: Request, approval_id: str, body: Decision) -> Any:
    """Reject, as the token's identity (or ``by``); it must be one of the approvers."""
    return await _decide(request, approval_id, body, False)
