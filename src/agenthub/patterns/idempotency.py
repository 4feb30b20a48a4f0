"""Idempotency keys: one stable key per logical operation, the same on every retry.

Present the key to the outside world (an ``Idempotency-Key`` header, a unique column) so a
retried activity, or an undo that runs again after a crash, acts once.

Example::

    @activity.defn
    async def charge(order: Order) -> str:
        key = activity_idempotency_key("charge")
        return await payments.charge(order.total, idempotency_key=key)
"""

from __future__ import annotations

from temporalio import activity, workflow

from agenthub.errors import InvalidInput

__all__ = ["activity_idempotency_key", "workflow_idempotency_key"]


def _compose(workflow_id: str, step: str, business_key: str | None) -> str:
    if not step or "/" in step:
        raise InvalidInput(f"idempotency step name {step!r} must be non-empty and contain no '/'")
    return f"{workflow_id}/{step}" + (f"/{business_key}" if business_key else "")


def activity_idempotency_key(step: str | None = None, business_key: str | None = None) -> str:
    """The key of the current activity's operation.

    With ``step``: ``<workflow id>/<step>[/<business key>]``, the same in every run of the
    workflow (also after continue-as-new), so name steps uniquely within a workflow. Without:
    ``<workflow id>/<run id>/<activity id>``, unique to this scheduled activity.

    Raises:
        RuntimeError: not called inside an activity (from the SDK).
    """
    info = activity.info()
    workflow_id = info.workflow_id or "standalone"
    if step is None:
        return f"{workflow_id}/{info.workflow_run_id}/{info.activity_id}"
    return _compose(workflow_id, step, business_key)


def workflow_idempotency_key(step: str, business_key: str | None = None) -> str:
    """The same key as :func:`activity_idempotency_key` with a step, built in workflow code
    (e.g. to pass to an activity or a child workflow as an argument)."""
    return _compose(workflow.info().workflow_id, step, business_key)
