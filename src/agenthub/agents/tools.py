"""Agent tools: typed functions the model may call, each run as an activity.

:func:`tool` declares what agenthub adds to a pydantic-ai tool: its activity timeout and
retry preset (agenthub's error taxonomy), ``side_effect=True`` (the call acts once: it gets
an idempotency key and a ledger entry, and a retry returns the recorded result),
``compensate=undo`` (the undo is registered in the task's Saga *before* the call, and runs
newest first if the task fails or is cancelled) and ``requires_approval=True`` (the call
waits for a human decision in agenthub's approval inbox; a rejection goes back to the model
as a denial).

Example::

    async def cancel_hotel(city: str, nights: int) -> None:
        await hotels.cancel(city, nights, idempotency_key=idempotency_key())

    @tool(side_effect=True, compensate=cancel_hotel, requires_approval=True)
    async def book_hotel(city: str, nights: int) -> str:
        \"\"\"Book a hotel room.\"\"\"
        return await hotels.book(city, nights, idempotency_key=idempotency_key())
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, ParamSpec, TypeVar, overload

from pydantic_core import to_jsonable_python
from temporalio import activity, workflow

from agenthub.errors import ConfigurationError, classify_http_status
from agenthub.patterns.heartbeat import Heartbeat
from agenthub.patterns.ledger import IdempotencyLedger, act_once, fingerprint_call
from agenthub.patterns.retry import PresetName
from agenthub.patterns.retry import preset as retry_preset

__all__ = ["AgentTool", "AnyTool", "arguments_digest", "call_approval_id", "tool"]


P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class AgentTool(Generic[P, R]):
    """A tool with agenthub's options (made by :func:`tool`). It keeps the function's type:
    calling it calls the function (outside an agent, e.g. in a test), checked by mypy."""

    function: Callable[P, R]
    name: str
    side_effect: bool = False
    compensate: Callable[..., Any] | None = None
    requires_approval: bool = False
    approvers: tuple[str, ...] = ()
    """Who may approve; empty: the agent's approvers."""
    approval_timeout: timedelta = timedelta(days=1)
    timeout: timedelta = timedelta(minutes=1)
    """Start-to-close timeout of one attempt of the tool's activity."""
    undo_timeout: timedelta = timedelta(minutes=1)
    """Start-to-close timeout of one attempt of the undo (``compensate``)."""
    retry: PresetName = "EXTERNAL_API"
    """Retry preset (:mod:`agenthub.patterns.retry`): 429/5xx retried, 4xx not."""
    description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function itself (no activity, no ledger: that is the agent's way)."""
        return self.function(*args, **kwargs)


AnyTool = AgentTool[..., Any]
"""An :class:`AgentTool` of any signature."""


@overload
def tool(function: Callable[P, R], /) -> AgentTool[P, R]: ...


@overload
def tool(
    *,
    name: str | None = None,
    side_effect: bool = False,
    compensate: Callable[..., Any] | None = None,
    requires_approval: bool = False,
    approvers: tuple[str, ...] | list[str] = (),
    approval_timeout: timedelta = timedelta(days=1),
    timeout: timedelta = timedelta(minutes=1),
    undo_timeout: timedelta = timedelta(minutes=1),
    retry: PresetName = "EXTERNAL_API",
    description: str | None = None,
) -> Callable[[Callable[P, R]], AgentTool[P, R]]: ...


def tool(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    side_effect: bool = False,
    compensate: Callable[..., Any] | None = None,
    requires_approval: bool = False,
    approvers: tuple[str, ...] | list[str] = (),
    approval_timeout: timedelta = timedelta(days=1),
    timeout: timedelta = timedelta(minutes=1),
    undo_timeout: timedelta = timedelta(minutes=1),
    retry: PresetName = "EXTERNAL_API",
    description: str | None = None,
) -> AgentTool[P, R] | Callable[[Callable[P, R]], AgentTool[P, R]]:
    """Declare an agent tool (see the module docstring); usable bare or with options.

    The function's parameters and docstring are the schema the model sees (pydantic-ai).
    ``compensate`` takes the same arguments as the tool (without a ``RunContext``); each
    attempt of it may take ``undo_timeout``.

    A side-effect tool heartbeats while it runs (heartbeat timeout
    :data:`SIDE_EFFECT_HEARTBEAT`) and holds its ledger claim on a short lease it renews, so
    when its worker is killed the next attempt starts within seconds, not after ``timeout``.

    Raises:
        ConfigurationError: an unknown retry preset, a non-positive timeout, or a
            compensation that is not callable.
    """

    def make(fn: Callable[P, R]) -> AgentTool[P, R]:
        retry_preset(retry)  # an unknown preset fails here, at import, not in a workflow
        if min(timeout, approval_timeout, undo_timeout) <= timedelta(0):
            raise ConfigurationError(f"tool {fn.__name__!r}: timeouts must be positive")
        if compensate is not None and not callable(compensate):
            raise ConfigurationError(f"tool {fn.__name__!r}: compensate must be a function")
        return AgentTool(
            function=fn,
            name=name or fn.__name__,
            side_effect=side_effect,
            compensate=compensate,
            requires_approval=requires_approval,
            approvers=tuple(approvers),
            approval_timeout=approval_timeout,
            timeout=timeout,
            undo_timeout=undo_timeout,
            retry=retry,
            description=description,
        )

    return make(function) if function is not None else make


def arguments_digest(args: dict[str, Any]) -> str:
    """A short digest of a tool call's arguments (canonical JSON), binding an approval to
    exactly what was asked."""
    canonical = json.dumps(to_jsonable_python(args, fallback=repr), sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def call_approval_id(
    tool: str, *, workflow_id: str, run_id: str, seq: int, tool_call_id: str, args: dict[str, Any]
) -> str:
    """The approval id of one tool call: ``<tool>-<digest>``, the digest over the task's
    workflow id and run, the ask's number in the run, the tool call id and the arguments.

    Model servers reuse call ids (the offline model always does; index-based ids are common
    in local OpenAI-compatible servers), and every task of a task queue, whatever its
    tenant, shares one inbox: the task run makes the id unique there, while the call id and
    the argument digest still bind a decision to exactly that call. Short and URL-safe, so
    it is copied whole from an 80-column terminal.
    """
    canonical = json.dumps([workflow_id, run_id, seq, tool_call_id, arguments_digest(args)])
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9_]", "", tool)[:24] or "tool"
    return f"{name}-{digest}"


def _takes_context(fn: Callable[..., Any]) -> bool:
    from pydantic_ai import RunContext

    params = list(inspect.signature(fn).parameters.values())
    if not params:
        return False
    hints = getattr(fn, "__annotations__", {})
    annotation = hints.get(params[0].name, params[0].annotation)
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return annotation is RunContext or str(text).startswith("RunContext")


def activity_function(
    spec: AnyTool, agent: str, ledger: Callable[[], IdempotencyLedger]
) -> Callable[..., Awaitable[Any]]:
    """The function pydantic-ai runs in the tool's activity: the tool itself, with HTTP
    errors classified (429/5xx retryable with ``Retry-After``, other 4xx not) and, for a
    side effect, acting once per call (``<workflow>/<run>/<agent>.<tool>/<activity id>``:
    a retried attempt keeps its activity id, another call gets another)."""
    fn = spec.function
    is_async = inspect.iscoroutinefunction(fn)

    async def call(*args: Any, **kwargs: Any) -> Any:
        if is_async:
            return await fn(*args, **kwargs)
        # A synchronous tool must not block the worker's event loop (nor its heartbeats).
        return await asyncio.to_thread(fn, *args, **kwargs)

    @functools.wraps(fn)
    async def run_tool(*args: Any, **kwargs: Any) -> Any:
        try:
            if not spec.side_effect or not activity.in_activity():
                return await call(*args, **kwargs)
            info = activity.info()
            key = (
                f"{info.workflow_id}/{info.workflow_run_id}/{agent}.{spec.name}/{info.activity_id}"
            )
            plain = args[1:] if _takes_context(fn) else args
            fingerprint = fingerprint_call(tuple(plain), kwargs)
            async with Heartbeat():
                return await act_once(
                    ledger(), key, fingerprint, lambda: call(*args, **kwargs), fn,
                    lease=SIDE_EFFECT_LEASE, renew=True,
                )  # fmt: skip
        except Exception as err:
            response = getattr(err, "response", None)
            status = getattr(response, "status_code", None)
            if type(err).__name__ == "HTTPStatusError" and isinstance(status, int):
                headers = getattr(response, "headers", {}) or {}
                try:
                    body = str(getattr(response, "text", ""))[:300]
                except Exception:  # a streamed body that was not read
                    body = ""
                raise classify_http_status(
                    status, body, retry_after=headers.get("Retry-After")
                ) from err
            raise

    return run_tool


SIDE_EFFECT_HEARTBEAT = timedelta(seconds=5)
"""Heartbeat timeout of a side-effect tool's activity: the server retries the call of a
killed worker after this, not after the tool's whole ``timeout``."""

SIDE_EFFECT_LEASE = timedelta(seconds=6)
"""How long a side-effect call's ledger claim outlives its last renewal (renewed every
third of it while the call runs): a killed attempt's claim is free soon after the server
notices the attempt is gone."""


def activity_config(spec: AnyTool) -> workflow.ActivityConfig:
    """The tool's activity options; a compensated tool's cancellation waits for the attempt
    to end, so its undo never runs before its effect has landed; a side effect heartbeats
    (see :data:`SIDE_EFFECT_HEARTBEAT`)."""
    config = workflow.ActivityConfig(
        start_to_close_timeout=spec.timeout, retry_policy=retry_preset(spec.retry)
    )
    if spec.side_effect:
        config["heartbeat_timeout"] = min(SIDE_EFFECT_HEARTBEAT, spec.timeout)
    if spec.compensate is not None:
        config["cancellation_type"] = workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
    return config
