"""Routes of human approvals: list pending ones, approve, reject.

Of several decisions on one approval, sent at once or one after another, exactly one wins
(200); every other is 409 ``CallbackAlreadyCompleted`` with the ``decision`` that stands,
whether the approval has left the inbox yet or not. A late decision on one that timed out
is 410.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from agenthub.api._shared import ErrorBody, authenticate, error_response, errors, hub, principal
from agenthub.errors import (
    CallbackAlreadyCompleted,
    CallbackError,
    CallbackNotFound,
    InvalidInput,
)
from agenthub.patterns.approvals import (
    ApprovalDecision,
    PendingApproval,
    decide,
    decided_approval,
    describe,
    list_pending,
)

router = APIRouter(prefix="/approvals", tags=["approvals"], dependencies=[Depends(authenticate)])


class Decision(BaseModel):
    """Body of an approval decision.

    With an API token the decider is the token's identity (``by`` may be left out, or must
    equal it); with the shared API key (a trusted front end) or no authentication, ``by``
    names the decider.
    """

    by: str = ""
    reason: str = ""


class DecisionConflict(ErrorBody):
    """409: the approval was decided already; ``decision`` is the one that stands."""

    decision: ApprovalDecision | None = None


TaskQueue = Annotated[
    str | None,
    Query(description="the task queue of the workflows that asked (default: the hub's)"),
]
Inbox = Annotated[str, Query(description="the inbox name")]


def _queue(request: Request, task_queue: str | None) -> str:
    # Approvals live in an inbox per task queue: that of the workflows that asked.
    return task_queue or hub(request).task_queue


@router.get("", response_model=list[PendingApproval], responses=errors(401, 422, 503))
async def approvals(
    request: Request, inbox: Inbox = "default", task_queue: TaskQueue = None
) -> Any:
    """Pending approvals of ``inbox`` of ``task_queue`` that the caller's tenant may see,
    soonest to expire first."""
    pending = await list_pending(
        hub(request).client, task_queue=_queue(request, task_queue), inbox=inbox
    )
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


@dataclass(frozen=True)
class Refusal:
    """Why a decision was not taken: the HTTP status, the error's type and message, and
    the ``decision`` that stands when it was decided already."""

    status: int
    error: str
    message: str
    decision: ApprovalDecision | None = None

    def response(self) -> JSONResponse:
        extra = {"decision": to_jsonable_python(self.decision)} if self.decision else {}
        return error_response(self.status, self.error, self.message, **extra)


def _already_decided(approval_id: str, decision: ApprovalDecision) -> Refusal:
    if decision.timed_out:
        return Refusal(
            410, "CallbackExpired", f"approval {approval_id} timed out: nobody decided in time"
        )
    return Refusal(
        409, "CallbackAlreadyCompleted",
        f"approval {approval_id} was already decided: {describe(decision)}", decision,
    )  # fmt: skip


async def decide_pending(
    request: Request,
    approval_id: str,
    *,
    by: str,
    reason: str,
    approved: bool,
    inbox: str = "default",
    task_queue: str | None = None,
) -> ApprovalDecision | Refusal:
    """Decide the approval ``approval_id`` of the caller's tenant as ``by`` (the API's
    routes and the console's buttons alike): the decision taken, or why not."""
    client = hub(request).client
    queue = _queue(request, task_queue)
    who = principal(request)
    pending = await list_pending(client, task_queue=queue, inbox=inbox)
    match = next(
        (p for p in pending if p.approval_id == approval_id and who.sees(p.workflow_id)), None
    )
    if match is None:
        decided = await decided_approval(client, approval_id, task_queue=queue, inbox=inbox)
        if decided is not None and who.sees(decided.approval.workflow_id):
            return _already_decided(approval_id, decided.decision)
        return Refusal(
            404, "CallbackNotFound",
            f"no pending approval {approval_id!r} in inbox {inbox!r} of task queue {queue!r}",
        )  # fmt: skip
    try:
        return await hub(request).gate.call(
            match.workflow_id,
            lambda: decide(client, match, approved=approved, by=by, reason=reason),
        )
    except InvalidInput as err:
        return Refusal(403, "NotAnApprover", err.message)
    except CallbackAlreadyCompleted as err:
        if isinstance(err.standing, ApprovalDecision):
            return _already_decided(approval_id, err.standing)
        return Refusal(err.status, type(err).__name__, str(err))
    except CallbackNotFound as err:
        # Listed as pending a moment ago: decided meanwhile and the task has ended.
        decided = await decided_approval(client, approval_id, task_queue=queue, inbox=inbox)
        if decided is not None:
            return _already_decided(approval_id, decided.decision)
        return Refusal(err.status, type(err).__name__, str(err))
    except CallbackError as err:
        return Refusal(err.status, type(err).__name__, str(err))


async def _decide(
    request: Request,
    approval_id: str,
    body: Decision,
    approved: bool,
    inbox: str,
    task_queue: str | None,
) -> Any:
    by = _decider(request, body)
    if isinstance(by, JSONResponse):
        return by
    outcome = await decide_pending(
        request, approval_id, by=by, reason=body.reason, approved=approved, inbox=inbox,
        task_queue=task_queue,
    )  # fmt: skip
    if isinstance(outcome, Refusal):
        return outcome.response()
    return to_jsonable_python(outcome)


_DECIDE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **errors(401, 403, 404, 410, 422, 429, 503),
    409: {"model": DecisionConflict},
}


@router.post("/{approval_id}/approve", response_model=ApprovalDecision, responses=_DECIDE_RESPONSES)
async def approve(
    request: Request,
    approval_id: str,
    body: Decision,
    inbox: Inbox = "default",
    task_queue: TaskQueue = None,
) -> Any:
    """Approve, as the token's identity (or ``by``); it must be one of the approvers (403).
    409 with the ``decision`` that stands when it was decided already, 410 when it timed
    out, 404 when the tenant has no such approval, 429 when too many wait on its task."""
    return await _decide(request, approval_id, body, True, inbox, task_queue)


@router.post("/{approval_id}/reject", response_model=ApprovalDecision, responses=_DECIDE_RESPONSES)
async def reject(
    request: Request,
    approval_id: str,
    body: Decision,
    inbox: Inbox = "default",
    task_queue: TaskQueue = None,
) -> Any:
    """Reject, as the token's identity (or ``by``); answers as ``approve`` does."""
    return await _decide(request, approval_id, body, False, inbox, task_queue)
