"""Small readings of temporalio objects that several patterns need, written once."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError

__all__ = ["activity_name", "describe_failure", "workflow_name"]


def activity_name(fn: Any) -> str | None:
    """The activity type name of a function decorated with ``@activity.defn``, else None."""
    name = getattr(getattr(fn, "__temporal_activity_definition", None), "name", None)
    return name if isinstance(name, str) and name else None


def workflow_name(cls: Any) -> str | None:
    """The workflow type name of a ``@workflow.defn`` class, else None."""
    name = getattr(getattr(cls, "__temporal_workflow_definition", None), "name", None)
    return name if isinstance(name, str) and name else None


def describe_failure(error: BaseException) -> tuple[str, str]:
    """``(type, message)`` of the root cause, seen through activity and child-workflow
    wrappers: an ``ApplicationError``'s ``type``, else the exception class name."""
    cause: BaseException = error
    while isinstance(cause, (ActivityError, ChildWorkflowError)) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return cause.type or "ApplicationError", cause.message
    if isinstance(cause, FailureError):
        return type(cause).__name__, cause.message
    return type(cause).__name__, str(cause)
