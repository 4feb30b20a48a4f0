"""``agenthub approvals list / approve / reject``: decide human approvals."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from temporalio.exceptions import ApplicationError

from agenthub.cli._common import (
    TaskQueueOption,
    console,
    fail,
    print_rows,
    run,
    settings_from,
)
from agenthub.errors import CallbackAlreadyCompleted, ConfigurationError
from agenthub.runtime.connect import connect
from agenthub.runtime.settings import Settings

approvals_app = typer.Typer(help="List and decide human approvals.", no_args_is_help=True)

InboxOption = Annotated[str, typer.Option("--inbox", help="Inbox name.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why.")]


def _checked_settings(task_queue: str | None, inbox: str) -> Settings:
    """Settings for an inbox command; an empty inbox or queue exits before connecting."""
    from agenthub.patterns.approvals import inbox_workflow_id

    settings = settings_from(task_queue=task_queue)
    try:
        inbox_workflow_id(settings.task_queue, inbox)
    except ApplicationError as err:
        fail(f"{err.type}: {err.message}")
    return settings


def _where(task_queue: str, inbox: str) -> str:
    from agenthub.patterns.approvals import inbox_workflow_id

    return (
        f"inbox {inbox!r} of task queue {task_queue!r} (workflow "
        f"{inbox_workflow_id(task_queue, inbox)}); approvals of workflows on another task "
        "queue are under --task-queue QUEUE"
    )


@approvals_app.command("list")
def approvals_list(inbox: InboxOption = "default", task_queue: TaskQueueOption = None) -> None:
    """Pending approvals, soonest to expire first."""
    from agenthub.patterns.approvals import list_pending

    settings = _checked_settings(task_queue, inbox)

    async def main(stop: asyncio.Event) -> Any:
        client = await connect(settings)
        return await list_pending(client, task_queue=settings.task_queue, inbox=inbox)

    pending = run(main)
    if not pending:
        console.print(f"no pending approvals in {_where(settings.task_queue, inbox)}")
        return
    rows = [
        (p.approval_id, p.summary, ", ".join(p.approvers), f"{p.expires_at:%Y-%m-%d %H:%M}",
         p.workflow_id)
        for p in pending
    ]  # fmt: skip
    print_rows(("approval id", "summary", "approvers", "expires", "workflow"), rows, keep=0)
    console.print(f"{len(pending)} pending")


def _decide(
    approval_id: str, approved: bool, reason: str, inbox: str, task_queue: str | None
) -> None:
    from agenthub.patterns.approvals import decide, decided_approval, describe, list_pending

    settings = _checked_settings(task_queue, inbox)
    # The CLI holds Temporal credentials; it decides as its configured identity.
    by = settings.effective_identity

    async def main(stop: asyncio.Event) -> Any:
        client = await connect(settings)
        pending = await list_pending(client, task_queue=settings.task_queue, inbox=inbox)
        match = next((p for p in pending if p.approval_id == approval_id), None)
        if match is None:
            decided = await decided_approval(
                client, approval_id, task_queue=settings.task_queue, inbox=inbox
            )
            if decided is not None:
                raise CallbackAlreadyCompleted(
                    f"approval {approval_id} was already decided: {describe(decided.decision)}"
                )
            raise ConfigurationError(
                f"no pending approval {approval_id!r} in {_where(settings.task_queue, inbox)}"
            )
        return await decide(client, match, approved=approved, by=by, reason=reason)

    decision = run(main)  # not an approver: InvalidInput, one line
    verdict = "approved" if decision.approved else "rejected"
    console.print(f"[green]{verdict}[/] {approval_id} by {decision.by}")


@approvals_app.command("approve")
def approvals_approve(
    approval_id: str,
    reason: ReasonOption = "",
    inbox: InboxOption = "default",
    task_queue: TaskQueueOption = None,
) -> None:
    """Approve a pending approval, as AGENTHUB_IDENTITY (default: your login name)."""
    _decide(approval_id, True, reason, inbox, task_queue)


@approvals_app.command("reject")
def approvals_reject(
    approval_id: str,
    reason: ReasonOption = "",
    inbox: InboxOption = "default",
    task_queue: TaskQueueOption = None,
) -> None:
    """Reject a pending approval, as AGENTHUB_IDENTITY (default: your login name)."""
    _decide(approval_id, False, reason, inbox, task_queue)
