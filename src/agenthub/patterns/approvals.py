"""Human approvals: a workflow asks, a person decides (CLI or HTTP), with a timeout.

:func:`request_approval` (workflow code) registers the request in an :class:`ApprovalInbox`
entity (one per inbox name, so pending approvals are listable), waits for the decision with
:func:`~agenthub.patterns.callbacks.wait_for_callback`, and removes it from the inbox.
:func:`list_pending` and :func:`decide` are the client side used by ``agenthub approvals``
and the HTTP API; ``decide`` checks that the decider is one of the approvers.

Example::

    decision = await request_approval(
        "Refund 420 EUR to order 17", approvers=["ana", "bo"], timeout=timedelta(days=2)
    )
    if not decision.approved:
        raise BusinessRuleViolation(f"refund refused by {decision.by}: {decision.reason}")
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from agenthub.errors import CallbackAlreadyCompleted, InvalidInput, WorkerUnavailable
from agenthub.patterns.callbacks import (
    CallbackCompletion,
    CallbackRequest,
    deliver_completion,
    wait_for_callback,
)
from agenthub.patterns.entity import Entity, EntityClient, EntityStart, entity_signal

__all__ = [
    "ApprovalDecision",
    "ApprovalInbox",
    "DecidedApproval",
    "PendingApproval",
    "decide",
    "decided_approval",
    "inbox_workflow_id",
    "list_pending",
    "register_approval",
    "request_approval",
    "unregister_approval",
]

_NAME = "approval"
_INBOX_TYPE = "agenthub.inbox"


@dataclass
class PendingApproval:
    """An approval waiting for a decision."""

    approval_id: str
    workflow_id: str
    summary: str
    approvers: list[str]
    expires_at: datetime
    inbox: str = "default"
    message_id: str = ""
    details: dict[str, str] = field(default_factory=dict)
    """What a person needs to decide, as text: agents put ``agent``, ``tool`` and
    ``arguments`` (pretty-printed JSON, cut at :data:`DETAIL_LIMIT` characters) here."""


DETAIL_LIMIT = 2000
"""Characters kept of each detail of a pending approval (the inbox lists up to 200 in its
memo; the whole call is in the task's transcript)."""


@dataclass
class ApprovalDecision:
    """The decision: who decided, and why. ``timed_out`` when nobody did in time."""

    approved: bool
    by: str = ""
    reason: str = ""
    timed_out: bool = False


@dataclass
class DecidedApproval:
    """An approval that left the inbox: what was asked, and the decision that stands
    (``decision.timed_out`` when nobody decided in time)."""

    approval: PendingApproval
    decision: ApprovalDecision


@dataclass
class _Removal:
    approval_id: str
    message_id: str
    decision: ApprovalDecision | None = None


DECIDED_LIMIT = 1000
"""Decided approvals an inbox remembers (the newest), so a late second decision is told
which decision stands (409) instead of that nothing is pending (404)."""


@dataclass
class _InboxState:
    pending: dict[str, PendingApproval] = field(default_factory=dict)
    decided: dict[str, DecidedApproval] = field(default_factory=dict)


@dataclass
class _PendingMemo:
    """The inbox's memo: pending approvals, readable by ``describe`` with no worker."""

    items: list[PendingApproval] = field(default_factory=list)
    complete: bool = True
    """False when there were more than fit; the rest are read by query."""


_MEMO_KEY = "agenthub.pending"
_MEMO_LIMIT = 200


@workflow.defn(name="agenthub.ApprovalInbox")
class ApprovalInbox(Entity[_InboxState]):
    """Index of pending approvals (one entity per inbox name)."""

    state_type = _InboxState

    @workflow.run
    async def run(self, start: EntityStart) -> _InboxState:
        return await self.run_entity(start)

    @entity_signal
    async def add(self, item: PendingApproval) -> None:
        self.state.pending[item.approval_id] = item
        self._publish()

    @entity_signal
    async def remove(self, item: _Removal) -> None:
        removed = self.state.pending.pop(item.approval_id, None)
        if removed is None:
            return
        if item.decision is not None:
            self.state.decided[item.approval_id] = DecidedApproval(removed, item.decision)
            while len(self.state.decided) > DECIDED_LIMIT:  # dicts keep insertion order
                del self.state.decided[next(iter(self.state.decided))]
        self._publish()

    def _publish(self) -> None:
        # A memo is served by the server itself: pending approvals stay listable while no
        # worker of this task queue runs (the requesting app is down).
        pending = self.pending()
        memo = _PendingMemo(pending[:_MEMO_LIMIT], complete=len(pending) <= _MEMO_LIMIT)
        workflow.upsert_memo({_MEMO_KEY: memo})

    @workflow.query
    def pending(self) -> list[PendingApproval]:
        return sorted(self.state.pending.values(), key=lambda p: p.expires_at)

    @workflow.query
    def outcome(self, approval_id: str) -> DecidedApproval | None:
        """The decision on a recently decided (or expired) approval."""
        return self.state.decided.get(approval_id)


def _inbox_client(client: Client, task_queue: str) -> EntityClient[ApprovalInbox]:
    # One inbox per task queue: the workers of that queue run it and answer its queries.
    return EntityClient(
        client, ApprovalInbox, task_queue=task_queue, entity_type=f"{_INBOX_TYPE}/{task_queue}"
    )


@activity.defn(name="agenthub.register_approval")
async def register_approval(req: CallbackRequest) -> None:
    """Put the request in its inbox (signal-with-start: the inbox may not run yet)."""
    item = PendingApproval(**{**req.payload, "approval_id": req.callback_id})
    item.expires_at = req.expires_at
    item.message_id = f"add:{req.callback_id}"
    info = activity.info()
    await _inbox_client(activity.client(), info.task_queue).signal(
        item.inbox, ApprovalInbox.add, item
    )


@activity.defn(name="agenthub.unregister_approval")
async def unregister_approval(
    inbox: str, approval_id: str, decision: ApprovalDecision | None = None
) -> None:
    """Take a decided (or expired) request out of its inbox, which remembers the decision."""
    removal = _Removal(approval_id, f"remove:{approval_id}", decision)
    await _inbox_client(activity.client(), activity.info().task_queue).signal(
        inbox, ApprovalInbox.remove, removal
    )


_DECISION_FIELDS = {"approved": bool, "by": str, "reason": str, "timed_out": bool}


def _check_decision(data: Any, approvers: list[str]) -> None:
    """The workflow's own check of a decision (run in the update validator): the right
    shape, and decided by one of its approvers, whoever sent it."""
    if not isinstance(data, dict) or not {"approved", "by"} <= data.keys():
        raise InvalidInput("a decision is an object with 'approved' (bool) and 'by' (str)")
    unknown = sorted(set(data) - _DECISION_FIELDS.keys())
    if unknown:
        raise InvalidInput(f"a decision has no field(s) {', '.join(map(repr, unknown))}")
    for key, kind in _DECISION_FIELDS.items():
        if key in data and not isinstance(data[key], kind):
            raise InvalidInput(f"decision field {key!r} must be a {kind.__name__}")
    if data.get("timed_out"):
        raise InvalidInput("a decision cannot say it timed out; only the wait can")
    if data["by"] not in approvers:
        raise InvalidInput(f"{data['by']!r} is not an approver (approvers: {', '.join(approvers)})")


async def request_approval(
    summary: str,
    *,
    approvers: list[str],
    timeout: timedelta,
    inbox: str = "default",
    approval_id: str | None = None,
    details: Mapping[str, str] | None = None,
) -> ApprovalDecision:
    """Ask for a human decision (workflow code); a timeout gives ``timed_out=True``.

    ``details`` are shown to the deciders beside ``summary`` (each cut at
    :data:`DETAIL_LIMIT` characters).

    ``approval_id`` names the request (default a fresh id). It must be unique in the inbox,
    which every workflow of the task queue shares: agents use ``<tool>-<digest>`` over the
    task's workflow id and run, the tool call id and the arguments.

    Raises:
        InvalidInput: no approvers or an empty summary.
    """
    if not summary.strip() or not approvers:
        raise InvalidInput("request_approval needs a summary and at least one approver")
    info = workflow.info()
    approval_id = approval_id or str(workflow.uuid4())
    payload = {
        "workflow_id": info.workflow_id,
        "summary": summary,
        "approvers": approvers,
        "inbox": inbox,
        "expires_at": workflow.now() + timeout,
        "details": {
            str(k): v if len(v) <= DETAIL_LIMIT else v[: DETAIL_LIMIT - 1] + "…"
            for k, v in (details or {}).items()
        },
    }
    raw = await wait_for_callback(
        _NAME,
        timeout=timeout,
        request=register_approval,
        payload=payload,
        default=None,
        callback_id=approval_id,
        validate=functools.partial(_check_decision, approvers=list(approvers)),
    )
    decision = (
        ApprovalDecision(approved=False, timed_out=True) if raw is None else ApprovalDecision(**raw)
    )
    # Decided or expired, the request leaves the inbox (which keeps the decision).
    await workflow.execute_activity(
        unregister_approval,
        args=[inbox, approval_id, decision],
        start_to_close_timeout=timedelta(minutes=1),
    )
    return decision


def inbox_workflow_id(task_queue: str, inbox: str = "default") -> str:
    """Workflow id of the inbox ``inbox`` of workflows on ``task_queue``.

    Raises:
        InvalidInput: ``task_queue`` or ``inbox`` is empty.
    """
    if not task_queue.strip() or not inbox.strip():
        raise InvalidInput("give a task queue and an inbox name (neither may be empty)")
    return f"{_INBOX_TYPE}/{task_queue}:{inbox}"


async def list_pending(
    client: Client, *, task_queue: str, inbox: str = "default", timeout: float = 10.0
) -> list[PendingApproval]:
    """Pending approvals of ``inbox``, soonest to expire first.

    The inbox of a task queue is run by that queue's workers (their ``AgentHubPlugin``
    registers it) and publishes its list in its memo, so listing needs no worker (up to 200
    approvals; past that the rest are read by a query); an inbox that was never used has
    nothing pending.

    Raises:
        InvalidInput: ``task_queue`` or ``inbox`` is empty.
        WorkerUnavailable: more than fit in the memo, and no worker answered the query
            within ``timeout``.
    """
    inbox_workflow_id(task_queue, inbox)
    entity = _inbox_client(client, task_queue)
    handle = entity.handle(inbox)
    try:
        description = await handle.describe(rpc_timeout=timedelta(seconds=timeout))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return []
        raise
    memo = await description.memo_value(_MEMO_KEY, None, type_hint=_PendingMemo)
    if isinstance(memo, _PendingMemo) and memo.complete:
        return memo.items
    try:
        pending: list[PendingApproval] = await handle.query(
            ApprovalInbox.pending, rpc_timeout=timedelta(seconds=timeout)
        )
        return pending
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return []
        raise WorkerUnavailable(
            f"the approval inbox {entity.workflow_id(inbox)!r} did not answer ({err.message}): "
            f"is a worker with AgentHubPlugin running on task queue {task_queue!r}?"
        ) from None
    except WorkflowQueryFailedError as err:
        raise WorkerUnavailable(
            f"the approval inbox {entity.workflow_id(inbox)!r} failed to answer: {err}"
        ) from None


async def decide(
    client: Client,
    approval: PendingApproval,
    *,
    approved: bool,
    by: str,
    reason: str = "",
    timeout: float = 30.0,
) -> ApprovalDecision:
    """Deliver a decision on ``approval``. Of several decisions sent at once, one wins; every
    other is refused with :class:`CallbackAlreadyCompleted`, whose ``standing`` is the
    :class:`ApprovalDecision` that won.

    Raises:
        InvalidInput: ``by`` is not one of the approvers.
        CallbackNotFound / CallbackAlreadyCompleted / CallbackExpired: nothing delivered.
        WorkerUnavailable: the asking workflow's worker did not confirm the decision within
            ``timeout`` seconds; it applies when the worker takes it, and deciding the same
            again reports the outcome.
    """
    if by not in approval.approvers:
        raise InvalidInput(f"{by!r} is not an approver of {approval.approval_id} "
                           f"(approvers: {', '.join(approval.approvers)})")  # fmt: skip
    decision = ApprovalDecision(approved=approved, by=by, reason=reason)
    try:
        await deliver_completion(
            client,
            approval.workflow_id,
            CallbackCompletion(approval.approval_id, _NAME, decision),
            timeout=timeout,
            # Each decision is its own update: an identical second one is a second decision,
            # refused (409), never taken for a resend of the first.
            update_id=f"approval:{approval.approval_id}:{uuid.uuid4().hex}",
        )
    except CallbackAlreadyCompleted as err:
        if not isinstance(err.standing, dict):
            raise
        standing = ApprovalDecision(**err.standing)
        refusal = CallbackAlreadyCompleted(
            f"approval {approval.approval_id} was already decided: {describe(standing)}"
        )
        refusal.standing = standing
        raise refusal from None
    return decision


def describe(decision: ApprovalDecision) -> str:
    """One line: ``approved by ana (fine)``, ``rejected by bo``, ``timed out``."""
    if decision.timed_out:
        return "timed out (nobody decided in time)"
    verdict = "approved" if decision.approved else "rejected"
    return f"{verdict} by {decision.by}" + (f" ({decision.reason})" if decision.reason else "")


async def decided_approval(
    client: Client,
    approval_id: str,
    *,
    task_queue: str,
    inbox: str = "default",
    timeout: float = 10.0,
) -> DecidedApproval | None:
    """The decision on ``approval_id`` if it was decided (or expired) recently (the inbox
    keeps the newest :data:`DECIDED_LIMIT`); ``None`` if the inbox does not know it or no
    worker answers within ``timeout``."""
    handle = _inbox_client(client, task_queue).handle(inbox)
    try:
        found: DecidedApproval | None = await handle.query(
            ApprovalInbox.outcome, approval_id, rpc_timeout=timedelta(seconds=timeout)
        )
    except (RPCError, WorkflowQueryFailedError):
        return None
    return found
