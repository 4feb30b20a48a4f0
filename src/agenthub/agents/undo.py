"""Undoing an agent's tool calls: the ``compensate=`` of a tool, run as an activity.

A compensated tool call registers :func:`run_undo` in its task's Saga before the call runs;
when the task fails or is cancelled, the saga runs it (newest first): workflow code that runs
the undo activity (:func:`undo_tool_call`, with the tool's ``undo_timeout`` and a short
heartbeat timeout) and tells the task's live readers with an ``undo`` event. Inside the
undo, ``idempotency_key()`` is the undo's own key, the same on every retry.

Example::

    async def cancel_hotel(city: str, nights: int) -> None:
        await hotels.cancel(city, nights, idempotency_key=idempotency_key())

    @tool(side_effect=True, compensate=cancel_hotel, undo_timeout=timedelta(minutes=2))
    async def book_hotel(city: str, nights: int) -> str: ...
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

from agenthub.agents.registry import agent_entry
from agenthub.patterns._sdk import describe_failure
from agenthub.patterns.ledger import (
    IdempotencyLedger,
    act_once,
    fingerprint_call,
    idempotency_scope,
)

__all__ = [
    "UNDO_ACTIVITY",
    "UNDO_HEARTBEAT",
    "UndoCall",
    "run_undo",
    "undo_activity",
    "undo_options",
]

UNDO_ACTIVITY = "agenthub.agents.undo"
"""The activity that runs a tool's compensation (registered by ``AgentsPlugin``)."""

UNDO_HEARTBEAT = timedelta(seconds=5)
"""Heartbeat timeout of an undo: a worker killed mid-undo is noticed in seconds."""


@dataclass
class UndoCall:
    """Argument of :data:`UNDO_ACTIVITY`: which tool's undo, with the call's arguments."""

    agent: str
    tool: str
    arguments: dict[str, Any]
    tool_call_id: str = ""
    origin: str = ""
    """The call's place in the task that made it (``<workflow>/<run>/<n>``): the undo's
    ledger key, kept when a fork carries it, so original and fork undo it once in all."""
    step: int = 0
    """The task's step (model response) that made the call."""


def undo_options(call: UndoCall) -> dict[str, Any]:
    """Activity options of a tool's undo: its ``undo_timeout``, and a short heartbeat
    timeout (the undo heartbeats), so a worker killed mid-undo is retried in seconds."""
    entry = agent_entry(call.agent)
    tools = entry[1].agent_tools() if entry is not None else []
    match = next((t for t in tools if t.name == call.tool), None)
    timeout = match.undo_timeout if match is not None else timedelta(minutes=1)
    return {"start_to_close_timeout": timeout, "heartbeat_timeout": UNDO_HEARTBEAT}


async def run_undo(call: UndoCall) -> None:
    """A saga compensation (workflow code): run the tool's undo activity and tell the
    task's live readers (an ``undo`` event: done, or failed and retried by the saga)."""
    from agenthub.patterns.retry import preset

    publish = getattr(workflow.instance(), "record", None)
    what = f"{call.tool}({_short_arguments(call.arguments)})"
    data = {"tool": call.tool, "arguments": call.arguments, "tool_call_id": call.tool_call_id}
    try:
        await workflow.execute_activity(
            UNDO_ACTIVITY, call, retry_policy=preset("COMPENSATION"), **undo_options(call)
        )
    except BaseException as err:
        if publish is not None:
            kind, message = describe_failure(err)
            publish("undo", f"undo {what}: failed: {kind}: {message}", **data, outcome="failed")
        raise
    if publish is not None:
        publish("undo", f"undo {what}: done", **data, outcome="done")


def _short_arguments(arguments: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    return text if len(text) <= 120 else text[:119] + "…"


def undo_activity(ledger: Callable[[], IdempotencyLedger]) -> Callable[[UndoCall], Any]:
    """The activity :data:`UNDO_ACTIVITY` (registered by ``AgentsPlugin``): run a tool's
    compensation with the call's arguments (validated into its types), heartbeating, once
    per call in the ledger: an undo carried into a fork keeps its key, so the original and
    its forks undo a call once in all. Inside it, ``idempotency_key()`` is that key."""

    @activity.defn(name=UNDO_ACTIVITY)
    async def undo_tool_call(call: UndoCall) -> None:
        from pydantic import validate_call

        entry = agent_entry(call.agent)
        spec = entry[1].agent_tools() if entry is not None else []
        match = next((t for t in spec if t.name == call.tool), None)
        if match is None or match.compensate is None:
            raise ApplicationError(
                f"no compensation for tool {call.tool!r} of agent {call.agent!r} on this worker",
                type="InvalidInput",
                non_retryable=True,
            )
        undo = validate_call(match.compensate)
        info = activity.info()
        if call.origin:
            key = f"{call.origin}/{call.agent}.{call.tool}/undo"
            fingerprint = fingerprint_call((), call.arguments)
            await act_once(
                ledger(), key, fingerprint,
                lambda: _run_undo(match.compensate, undo, call.arguments), _returns_none,
            )  # fmt: skip
            return
        run = f"{info.workflow_id}/{info.workflow_run_id}"
        with idempotency_scope(f"{run}/{call.agent}.{call.tool}/undo/{info.activity_id}"):
            await _run_undo(match.compensate, undo, call.arguments)

    return undo_tool_call


def _returns_none() -> None:
    """(The return type of an undo, for the ledger's record.)"""


async def _run_undo(compensate: Any, undo: Any, arguments: dict[str, Any]) -> None:
    import inspect

    from agenthub.patterns.heartbeat import Heartbeat

    async with Heartbeat():
        if inspect.iscoroutinefunction(compensate):
            await undo(**arguments)
        else:  # a synchronous undo must not block the heartbeats
            result = await asyncio.to_thread(undo, **arguments)
            if inspect.isawaitable(result):
                await result
