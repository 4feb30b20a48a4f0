"""``AgentTask``: one agent, one goal, to a typed result, as a durable workflow.

The agent's model requests and tool calls are activities (pydantic-ai's Temporal
durability); agenthub adds the task's limits (requests, tool calls, tokens, a durable
deadline), compensation of tools with ``compensate=`` (newest first, when the task fails or
is cancelled), approvals bound to the call, and a status query: state, current step, usage
and a bounded transcript.

Example::

    result = await run_agent(client, "trip", "Two nights in Lisbon in May", task_queue="agents")
    print(result.output, result.usage.requests)
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributeKey
from temporalio.contrib.workflow_streams import (
    WorkflowStream,
    WorkflowStreamClient,
    WorkflowStreamState,
)
from temporalio.exceptions import ApplicationError

from agenthub.agents.capability import ApprovalRecord, TaskProgress, TranscriptEntry
from agenthub.agents.goals import render_goal
from agenthub.agents.limiter import GRANT_SIGNAL, PermitHolder
from agenthub.agents.registry import agent_entry, agent_specs
from agenthub.agents.spec import AgentLimits
from agenthub.agents.undo import UndoCall, run_undo
from agenthub.patterns._sdk import describe_failure
from agenthub.patterns.saga import Saga

__all__ = [
    "AGENT_STATUS_QUERY",
    "AgentEvent",
    "AgentEventItem",
    "AgentTask",
    "AgentTaskRequest",
    "AgentTaskResult",
    "AgentUsage",
    "agent_events",
    "agent_task_status",
    "run_agent",
    "start_agent_task",
]

AGENT_STATUS_QUERY = "agenthub.agent.status"
AGENT_RECORD_QUERY = "agenthub.agent.record"
"""The task's whole story (:class:`TaskRecord`): every message, approval and undo."""
AGENT_TASK_TYPE = "agenthub.AgentTask"
MODEL_ERROR_SIGNAL = "agenthub.agent.model_error"
"""Sent by the worker's model-request watcher when an attempt fails (see
:class:`ModelFailure`)."""
INTERRUPT_SIGNAL = "agenthub.agent.interrupt"
"""Stop the agent where it is and end the task with what it did so far, undoing nothing
(a session's ``double_texting = "interrupt"``); a cancel, by contrast, undoes."""

EVENT_TOPIC = "agent"
EVENT_LIMIT = 1000
"""Events a task keeps for readers; older ones are dropped (the status query and the
history keep the rest)."""


@dataclass
class AgentEvent:
    """One step of an agent task, as live readers see it (:func:`agent_events`)."""

    kind: str
    """``goal``, ``model``, ``model_error`` (a failed model request: ``data`` has
    ``error_type``, ``attempt`` and ``next_retry_at``, ``None`` when it is not retried),
    ``tool_call``, ``tool_result``, ``approval_asked``, ``approval``, ``usage``, ``undo``
    (a compensation: ``data`` has ``tool``, ``arguments`` and ``outcome``, ``done`` or
    ``failed``), ``answer``, ``failed`` or ``cancelled``; a team's stream has ``goal``,
    ``member`` (one per member: its answer or its failure), ``undo``, ``merge``,
    ``answer``, ``failed`` or ``cancelled``."""
    text: str
    data: dict[str, Any] | None = None
    at: float = 0.0
    """When it happened (workflow time, epoch seconds)."""


@dataclass
class ModelFailure:
    """A failed attempt of a model request, reported to its task as it happens."""

    error_type: str
    """E.g. ``ModelHTTPError``, ``ModelAPIError`` (connection refused), ``TimeoutError``."""
    message: str
    attempt: int
    next_retry_at: datetime | None = None
    """When the server tries again; ``None``: it does not (the task fails)."""

    def describe(self) -> str:
        when = f"retry at {self.next_retry_at:%H:%M:%S}Z" if self.next_retry_at else "not retried"
        return f"{self.error_type}: {self.message} (attempt {self.attempt}, {when})"


@dataclass
class AgentEventItem:
    """An event with its offset in the task's stream (resume from ``offset + 1``)."""

    offset: int
    event: AgentEvent


@dataclass
class AgentTaskRequest:
    """Input of :class:`AgentTask`."""

    agent: str
    goal: str
    limits: AgentLimits | None = None
    """Overrides the agent's limits for this task."""
    history: list[dict[str, Any]] | None = None
    """Earlier messages of the conversation (pydantic-ai messages as JSON; sessions)."""
    scheduled: ScheduledGoal | None = None
    """Set by a schedule: ``goal`` is a template rendered with the fire time at start."""
    resume: TaskResume | None = None
    """Set when the task continued as new: where the previous run stopped."""
    fork: ForkPoint | None = None
    """Set for a fork: the steps of the original replayed (never run again) before this
    task goes on live (:meth:`~agenthub.agents.HubTasks.fork`)."""
    instructions: str | None = None
    """Replaces the agent's instructions for this task (a fork or an evaluation)."""
    model: str | None = None
    """Replaces the agent's model for this task: a model string (``openai:<model>``, ...)."""
    replay: ToolReplay | None = None
    """Tool calls answered from a recording instead of running (an evaluation)."""


@dataclass
class ForkPoint:
    """Where a fork starts: the original's conversation up to the end of ``step`` (its model
    responses and tool results, recorded), the undos of those steps' compensated calls
    (carried: a failure of the fork undoes them, once, under the original's keys) and their
    usage (limits keep counting)."""

    parent: str
    """The original task's id (a workflow id for tasks outside the hub)."""
    step: int
    messages: list[dict[str, Any]]
    undos: list[UndoCall] = field(default_factory=list)
    usage: AgentUsage = field(default_factory=lambda: AgentUsage())
    tools: list[str] = field(default_factory=list)
    """Tools the replayed steps called: the agent must still have each of them."""
    history_base: int = 0
    """Messages of ``messages`` that came before the original task (a session's history)."""
    undone: list[str] = field(default_factory=list)
    """Calls of ``step`` that the original undid (it failed or was cancelled): the fork makes
    that step's calls again, live (``messages`` end with the step's response)."""


@dataclass
class RecordedCall:
    """A tool call and its result as a recording holds it."""

    tool: str
    arguments_digest: str
    result: Any = None
    error: str | None = None


@dataclass
class ToolReplay:
    """Tool calls answered from a recording: a call of the same tool with the same arguments
    gets the recorded result and runs nothing; any other call fails the task
    (``ToolCallNotRecorded``) unless ``live_tools``, when it runs for real."""

    calls: list[RecordedCall]
    live_tools: bool = False

    def answer(self, tool: str, digest: str, seen: dict[str, int]) -> RecordedCall | None:
        """The recorded call for this one (the n-th call of the same tool and arguments gets
        the n-th recording, or the last when it was made fewer times)."""
        matches = [c for c in self.calls if c.tool == tool and c.arguments_digest == digest]
        if not matches:
            return None
        key = f"{tool}/{digest}"
        seen[key] = seen.get(key, 0) + 1
        return matches[min(seen[key], len(matches)) - 1]


@dataclass
class TaskRecord:
    """The whole story of an agent task, for a cassette (:data:`AGENT_RECORD_QUERY`)."""

    agent: str
    goal: str
    state: str
    messages: list[dict[str, Any]]
    history_base: int
    usage: AgentUsage
    undos: list[UndoCall]
    approvals: list[ApprovalRecord]
    agent_spec: dict[str, Any]
    fork: dict[str, Any] | None = None
    undone: list[str] = field(default_factory=list)
    """``origin`` of each undo that has run (the task failed or was cancelled)."""


@dataclass
class TaskResume:
    """What a long task carries into its next run (continue-as-new): the conversation so
    far (offloaded by reference when large), usage, undos, progress and event offsets."""

    messages: list[dict[str, Any]]
    usage: AgentUsage
    undos: list[UndoCall]
    progress: TaskProgress
    stream: WorkflowStreamState
    published: int
    history_base: int
    """Messages of ``messages`` that came with the task (a session's history), not from it."""
    deadline_at: datetime | None = None
    runs: int = 1
    approvals: list[ApprovalRecord] = field(default_factory=list)
    fork: ForkPoint | None = None
    """The fork point of the task's first run, if it is a fork."""


class _ContinueAsNew(BaseException):
    """Raised between two model requests to move the task to a fresh run (a BaseException:
    nothing on the way may take it for a failure of the tool or the model)."""

    def __init__(self, messages: list[Any], usage: Any) -> None:
        super().__init__("continue as new")
        self.messages = messages
        self.usage = usage


@dataclass
class ScheduledGoal:
    """How a schedule's fire renders its goal template: ``{{ fire_time }}`` and
    ``{{ date }}`` in ``timezone``, and ``{{ schedule }}``."""

    schedule: str
    timezone: str = "UTC"


TASK_STATUS = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "succeeded",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued",
}
"""A task's status as the hub names it, by its workflow's status."""

TASK_MEMO = "agenthub.task"
"""The memo key of a hub task: agent, goal, tenant, who started it."""

_FIRED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@activity.defn(name="agenthub.render_scheduled_goal")
async def render_fire_goal(template: str, fired: datetime, scheduled: ScheduledGoal) -> str:
    """The goal of a schedule's fire (a local activity: the workflow sandbox keeps time zone
    data out of reach)."""
    local = fired.astimezone(ZoneInfo(scheduled.timezone))
    return render_goal(
        template,
        {"fire_time": local.isoformat(), "date": local.date().isoformat(),
         "schedule": scheduled.schedule},
    )  # fmt: skip


async def render_scheduled_goal(template: str, scheduled: ScheduledGoal) -> str:
    """(Workflow code.) The goal of a schedule's fire, from the fire time the schedule put
    on the workflow; the task's memo then shows the rendered goal."""
    fired = workflow.info().typed_search_attributes.get(_FIRED_AT) or workflow.now()
    goal: str = await workflow.execute_local_activity(
        render_fire_goal, args=[template, fired, scheduled],
        start_to_close_timeout=timedelta(seconds=30),
    )  # fmt: skip
    recorded = workflow.memo_value(TASK_MEMO, {}, type_hint=dict)
    workflow.upsert_memo({TASK_MEMO: {**recorded, "goal": goal[:500]}})
    return goal


@dataclass
class AgentUsage:
    requests: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class AgentTaskResult:
    """The answer, what it cost, and a bounded transcript."""

    output: Any
    usage: AgentUsage
    transcript: list[TranscriptEntry] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The messages this task added to the conversation (pydantic-ai messages as JSON)."""
    compensations: list[UndoCall] = field(default_factory=list)
    """Undos of the compensated tool calls it made, oldest first (a team that fails later
    runs them)."""
    interrupted: bool = False
    """Stopped by :data:`INTERRUPT_SIGNAL` before it answered: ``output`` is ``None`` and
    ``transcript`` holds what it did so far."""


def fork_refusal(spec: Any, fork: ForkPoint) -> str | None:
    """Why a fork cannot run on ``spec``: it lost a tool that the replayed steps called."""
    have = {t.name for t in spec.agent_tools()}
    missing = sorted({t for t in fork.tools if t not in have})
    if not missing or spec.mcp_servers:  # MCP tools are only known at run time
        return None
    return (
        f"agent {spec.name!r} has no tool {', '.join(map(repr, missing))}, which the replayed "
        f"steps of {fork.parent!r} called: fork at an earlier step, or give the agent that "
        "tool back"
    )


def _usage_of(progress: TaskProgress) -> AgentUsage:
    return AgentUsage(
        progress.requests, progress.tool_calls, progress.input_tokens, progress.output_tokens
    )


def _run_usage(usage: AgentUsage) -> Any:
    from pydantic_ai.usage import RunUsage

    return RunUsage(
        requests=usage.requests, tool_calls=usage.tool_calls,
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
    )  # fmt: skip


def _refuse(error_type: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)


@workflow.defn(name=AGENT_TASK_TYPE)
class AgentTask:
    """See the module docstring. Cancelling the workflow cancels the agent, undoes its
    compensated tool calls and ends it cancelled."""

    @workflow.init
    def __init__(self, request: AgentTaskRequest) -> None:
        resume = request.resume
        self.agent_progress = resume.progress if resume else TaskProgress(agent=request.agent)
        self.saga: Saga | None = None
        self.permits = PermitHolder()
        self.permit_count = 0
        self.undos: list[UndoCall] = list(resume.undos) if resume else []
        # Events for live readers (by offset), bounded to the newest EVENT_LIMIT; a run
        # that continued a long task goes on from its offsets.
        self.events = WorkflowStream(prior_state=resume.stream if resume else None)
        self._event_topic = self.events.topic(EVENT_TOPIC, type=AgentEvent)
        self._published = resume.published if resume else 0
        self._requests_at_start = self.agent_progress.requests
        self._continue_after: int | None = None
        self._agent_run: asyncio.Future[Any] | None = None
        self._interrupted = False
        self._request = request
        self.approvals: list[ApprovalRecord] = list(resume.approvals) if resume else []
        self.conversation: list[Any] | None = None
        """The run's messages (pydantic-ai's own list, set by the capability)."""
        self.tool_replay = request.replay
        self.replay_seen: dict[str, int] = {}

    def continue_as_new_point(self, ctx: Any, request_context: Any) -> None:
        """(Called by the capability before each model request.) Move to a fresh run when
        the history is long: after at least one model request of this run."""
        if self.agent_progress.requests <= self._requests_at_start:
            return
        info = workflow.info()
        limit = self._continue_after
        if info.is_continue_as_new_suggested() or (
            limit is not None and info.get_current_history_length() >= limit
        ):
            raise _ContinueAsNew(list(request_context.messages), ctx.usage)

    @workflow.signal(name=INTERRUPT_SIGNAL)
    def _interrupt(self) -> None:
        self._interrupted = True
        if self._agent_run is not None and not self._agent_run.done():
            self._agent_run.cancel()

    def record(self, kind: str, value: Any, **data: Any) -> None:
        """Note a step in the transcript and publish it as an :class:`AgentEvent`."""
        self.agent_progress.record(kind, value)
        text = self.agent_progress.transcript[-1].text
        at = workflow.now().timestamp()
        self._event_topic.publish(AgentEvent(kind, text, data or None, at))
        self._published += 1
        if self._published > EVENT_LIMIT:
            self.events.truncate(self._published - EVENT_LIMIT)

    @workflow.signal(name=GRANT_SIGNAL)
    def _permit_granted(self, permit_id: str) -> None:
        self.permits.granted_signal(permit_id)

    @workflow.signal(name=MODEL_ERROR_SIGNAL)
    def _model_failed(self, failure: ModelFailure) -> None:
        progress = self.agent_progress
        progress.last_error = failure.describe()
        progress.step = f"model request {progress.requests + 1}: attempt {failure.attempt} failed"
        self.record(
            "model_error", progress.last_error, error_type=failure.error_type,
            attempt=failure.attempt,
            next_retry_at=failure.next_retry_at and failure.next_retry_at.isoformat(),
        )  # fmt: skip

    @workflow.run
    async def run(self, request: AgentTaskRequest) -> AgentTaskResult:
        from pydantic_ai.exceptions import UsageLimitExceeded
        from pydantic_ai.messages import ModelMessagesTypeAdapter
        from pydantic_ai.usage import UsageLimits

        entry = agent_entry(request.agent)
        if entry is None:
            raise _refuse(
                "InvalidInput",
                f"no agent {request.agent!r} on this worker (known: {sorted(agent_specs())}); add "
                "its AgentSpec to the worker's AgentsPlugin",
            )
        agent, spec = entry
        if request.scheduled is not None:
            request = replace(
                request, goal=await render_scheduled_goal(request.goal, request.scheduled)
            )
        limits: AgentLimits = request.limits or spec.limits
        progress = self.agent_progress
        self._continue_after = spec.continue_as_new_events
        resume = request.resume
        fork = request.fork if resume is None else None
        refusal = fork_refusal(spec, fork) if fork is not None else None
        if refusal is not None:
            self._finish("failed", refusal)
            raise _refuse("InvalidInput", refusal)
        if resume is None:
            self.record("goal", request.goal)
        if fork is not None:
            self._replay_fork(fork)
        deadline_at = (
            resume.deadline_at
            if resume is not None
            else (workflow.now() + limits.deadline if limits.deadline else None)
        )
        usage_limits = UsageLimits(
            request_limit=limits.max_requests,
            tool_calls_limit=limits.max_tool_calls,
            total_tokens_limit=limits.max_total_tokens,
        )
        overrides: dict[str, Any] = {}
        if request.instructions is not None:
            overrides["instructions"] = request.instructions
        if request.model is not None:
            overrides["model"] = request.model
        try:
            with agent.override(**overrides) if overrides else contextlib.nullcontext():
                result, moving = await self._run_agent(
                    agent, request, usage_limits, deadline_at, fork
                )
            if moving is not None:
                await self._continue_as_new(request, moving, deadline_at)
        except UsageLimitExceeded as err:
            self._finish("failed", f"usage limit: {err}")
            raise _refuse("UsageLimitExceeded", f"agent {request.agent!r}: {err}") from None
        except TimeoutError:
            self._finish("failed", f"passed its deadline {limits.deadline}")
            raise _refuse(
                "DeadlineExceeded", f"agent {request.agent!r} passed its deadline {limits.deadline}"
            ) from None
        except workflow.ContinueAsNewError:
            raise  # the task goes on in its next run
        except asyncio.CancelledError:
            self._finish("cancelled", "cancelled")
            raise
        except BaseException as err:
            kind, message = describe_failure(err)
            self._finish("failed", f"{kind}: {message}")
            raise
        if result is None:
            self._finish("interrupted", "interrupted by a newer message; nothing was undone")
            return AgentTaskResult(
                output=None,
                usage=_usage_of(progress),
                transcript=list(progress.transcript),
                compensations=list(self.undos),
                interrupted=True,
            )
        usage = result.usage
        self.conversation = result.all_messages()
        carried = resume or request.fork
        base = carried.history_base if carried is not None else len(request.history or [])
        progress.state, progress.step = "succeeded", "done"
        self.record("answer", result.output, requests=usage.requests, tool_calls=usage.tool_calls)
        return AgentTaskResult(
            output=result.output,
            usage=AgentUsage(
                requests=usage.requests,
                tool_calls=usage.tool_calls,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
            ),
            transcript=list(progress.transcript),
            # What this task added to the conversation, across all its runs.
            messages=ModelMessagesTypeAdapter.dump_python(
                result.all_messages()[base:], mode="json"
            ),
            compensations=list(self.undos),
        )

    async def _run_agent(
        self,
        agent: Any,
        request: AgentTaskRequest,
        usage_limits: Any,
        deadline_at: datetime | None,
        fork: ForkPoint | None,
    ) -> tuple[Any, _ContinueAsNew | None]:
        """Run the agent in the task's Saga: from the goal, from where a continued run
        stopped, or from a fork's replayed steps. Returns its result (``None`` when
        interrupted) or where it stopped to continue as new."""
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        resume = request.resume
        async with Saga("agent") as saga:
            self.saga = saga
            for undo in self.undos:  # carried from the runs before (or a fork's original)
                saga.add_compensation(run_undo, undo)
            carried = resume or fork
            if carried is not None:
                running = agent.run(
                    None,
                    usage_limits=usage_limits,
                    message_history=ModelMessagesTypeAdapter.validate_python(carried.messages),
                    usage=_run_usage(carried.usage),
                )
            else:
                history = (
                    ModelMessagesTypeAdapter.validate_python(request.history)
                    if request.history
                    else None
                )
                running = agent.run(
                    request.goal, usage_limits=usage_limits, message_history=history
                )
            deadline = (
                max((deadline_at - workflow.now()).total_seconds(), 0.0)
                if deadline_at is not None
                else None
            )
            self._agent_run = asyncio.ensure_future(asyncio.wait_for(running, deadline))
            if self._interrupted:  # asked before the agent started
                self._agent_run.cancel()
            try:
                return await self._agent_run, None
            except asyncio.CancelledError:
                if not self._interrupted or not self._agent_run.cancelled():
                    raise  # the task itself is cancelled: undo, as ever
                return None, None  # interrupted: what was done stays done
            except _ContinueAsNew as err:
                return None, err  # not a failure: nothing is undone

    def _replay_fork(self, fork: ForkPoint) -> None:
        """Tell readers what the fork starts from: the original's steps, marked replayed."""
        progress = self.agent_progress
        again = ", ".join(fork.undone)
        gone = f"; making again what the original undid: {again}" if again else ""
        self.record("forked", f"forked from {fork.parent} at step {fork.step}{gone}",
                    parent=fork.parent, step=fork.step, undone=fork.undone)  # fmt: skip
        replayed = fork.messages[fork.history_base :]
        for n, message in enumerate(replayed):
            redone = bool(fork.undone) and n == len(replayed) - 1  # its calls run live
            for part in message.get("parts", []):
                kind = part.get("part_kind")
                if kind == "text" and message.get("kind") == "response":
                    self.record("model", part.get("content", ""), replayed=True)
                elif kind == "tool-call" and not redone:
                    self.record("tool_call", f"{part.get('tool_name')}({part.get('args')})",
                                id=part.get("tool_call_id"), replayed=True)  # fmt: skip
                elif kind == "tool-return":
                    self.record("tool_result", part.get("content"),
                                id=part.get("tool_call_id"), replayed=True)  # fmt: skip
        usage = fork.usage
        progress.requests, progress.tool_calls = usage.requests, usage.tool_calls
        progress.input_tokens, progress.output_tokens = usage.input_tokens, usage.output_tokens
        self._requests_at_start = progress.requests
        self.undos = list(fork.undos)

    @workflow.query(name=AGENT_RECORD_QUERY)
    def task_record(self) -> TaskRecord:
        """Every message, approval and undo of the task so far (see :class:`TaskRecord`)."""
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        request = self._request
        carried = request.resume or request.fork
        if self.conversation is not None:
            messages = ModelMessagesTypeAdapter.dump_python(self.conversation, mode="json")
        elif carried is not None:
            messages = list(carried.messages)
        else:
            messages = list(request.history or [])
        base = carried.history_base if carried is not None else len(request.history or [])
        entry = agent_entry(request.agent)
        progress = self.agent_progress
        fork = request.fork or (request.resume.fork if request.resume else None)
        return TaskRecord(
            agent=request.agent,
            goal=request.goal,
            state=self.status().state,
            messages=messages,
            history_base=base,
            usage=_usage_of(progress),
            undos=list(self.undos),
            approvals=list(self.approvals),
            agent_spec=entry[1].describe() if entry is not None else {"name": request.agent},
            fork={"task_id": fork.parent, "step": fork.step} if fork is not None else None,
            undone=self._undone(),
        )

    def _undone(self) -> list[str]:
        if self.saga is None:
            return []
        states = [c.state for c in self.saga.progress().compensations]
        return [u.origin for u, state in zip(self.undos, states, strict=False) if state == "done"]

    async def _continue_as_new(
        self, request: AgentTaskRequest, moving: _ContinueAsNew, deadline_at: datetime | None
    ) -> None:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        info = workflow.info()
        runs = request.resume.runs + 1 if request.resume else 2
        self.record("continued", f"run {runs} begins ({info.get_current_history_length()} events)")
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.events.detach_pollers()  # readers follow into the next run, from their offset
        usage = moving.usage
        resume = TaskResume(
            messages=ModelMessagesTypeAdapter.dump_python(moving.messages, mode="json"),
            usage=AgentUsage(
                usage.requests, usage.tool_calls, usage.input_tokens, usage.output_tokens
            ),
            undos=list(self.undos),
            progress=self.agent_progress,
            stream=self.events.get_state(),
            published=self._published,
            history_base=(
                request.resume.history_base
                if request.resume
                else request.fork.history_base
                if request.fork
                else len(request.history or [])
            ),
            deadline_at=deadline_at,
            runs=runs,
            approvals=list(self.approvals),
            fork=request.resume.fork if request.resume else request.fork,
        )
        memo = workflow.memo_value(TASK_MEMO, {}, type_hint=dict)
        workflow.continue_as_new(
            replace(request, resume=resume, scheduled=None, history=None),
            memo={TASK_MEMO: memo} if memo else None,
        )

    def _finish(self, state: str, why: str) -> None:
        self.agent_progress.state = state
        self.record(state, why)

    @workflow.query(name=AGENT_STATUS_QUERY)
    def status(self) -> TaskProgress:
        """State, current step, usage so far and the newest transcript entries."""
        if self.saga is not None and self.saga.progress().status == "compensating":
            return replace(self.agent_progress, state="compensating")
        return self.agent_progress


async def start_agent_task(
    client: Client,
    agent: str,
    goal: str,
    *,
    task_queue: str,
    task_id: str | None = None,
    limits: AgentLimits | None = None,
) -> WorkflowHandle[AgentTask, AgentTaskResult]:
    """Start an :class:`AgentTask` (``task_id`` defaults to ``<agent>-<uuid>``).

    Eager start is requested: when this client's own worker polls ``task_queue``, the first
    workflow task runs at once, without a round trip (measured: 200 -> 150 ms for a
    two-turn task); otherwise the server starts it as usual.
    """
    return await client.start_workflow(
        AgentTask.run,
        AgentTaskRequest(agent, goal, limits),
        id=task_id or f"{agent}-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
        request_eager_start=True,
    )


async def run_agent(
    client: Client,
    agent: str,
    goal: str,
    *,
    task_queue: str,
    task_id: str | None = None,
    limits: AgentLimits | None = None,
) -> AgentTaskResult:
    """Run an agent task to its result (see :func:`start_agent_task`)."""
    handle = await start_agent_task(
        client, agent, goal, task_queue=task_queue, task_id=task_id, limits=limits
    )
    return await handle.result()


async def agent_events(
    client: Client, task_id: str, *, from_offset: int = 0
) -> AsyncIterator[AgentEventItem]:
    """The task's events from ``from_offset`` on, live, in order, until the task ends.

    A reader that reconnects with ``from_offset=<last offset + 1>`` gets no duplicates and no
    gaps (while the task keeps them: the newest 1,000).

    Example::

        async for item in agent_events(client, handle.id):
            print(item.offset, item.event.kind, item.event.text)
    """
    stream = WorkflowStreamClient.create(client, task_id)
    async for item in stream.subscribe(
        EVENT_TOPIC, from_offset, result_type=AgentEvent, poll_cooldown=timedelta(milliseconds=50)
    ):
        yield AgentEventItem(item.offset, item.data)


async def agent_task_status(
    handle: WorkflowHandle[Any, Any], *, timeout: timedelta = timedelta(seconds=10)
) -> TaskProgress:
    """The task's :class:`TaskProgress` (state, step, usage, transcript)."""
    progress: TaskProgress = await handle.query(
        AGENT_STATUS_QUERY, result_type=TaskProgress, rpc_timeout=timeout
    )
    return progress
