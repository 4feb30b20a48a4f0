"""agenthub's pydantic-ai capability: what runs in workflow code around model requests and
tool calls of an agent task.

* A tool with ``requires_approval`` waits for a human decision through agenthub's approval
  inbox. The approval id (:func:`~agenthub.agents.tools.call_approval_id`) covers the task
  run, the tool call id and the arguments, so a decision binds to exactly that call of that
  task; several calls wait and resolve independently, in one task or many; a rejection or a
  timeout goes back to the model as the tool's result (a denial), not as a crash.
* A tool with ``compensate`` registers its undo in the task's Saga before the call runs.
* Each step is recorded for the task's status query (step, usage, a bounded transcript).
* An agent run outside a workflow is refused: agenthub agents are durable or do not run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.exceptions import UserError
from pydantic_core import to_jsonable_python
from temporalio import workflow
from temporalio.exceptions import ApplicationError

from agenthub.agents.limiter import LimiterSpec, PermitHolder, tokens_of
from agenthub.agents.tools import AnyTool, arguments_digest, call_approval_id
from agenthub.agents.undo import UNDO_ACTIVITY, UndoCall, run_undo
from agenthub.patterns.saga import Saga

__all__ = [
    "UNDO_ACTIVITY",
    "AgentHubCapability",
    "ApprovalRecord",
    "TaskContext",
    "TaskProgress",
    "TranscriptEntry",
    "UndoCall",
    "current_task",
]

TRANSCRIPT_LIMIT = 50
"""Entries the status query keeps (the newest); the full conversation stays in history."""

_PREVIEW = 200


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else repr(to_jsonable_python(value, fallback=repr))
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "…"


@dataclass
class TranscriptEntry:
    """One step of a task, shortened for display."""

    kind: str
    """``goal``, ``model``, ``tool_call``, ``tool_result``, ``approval`` or ``answer``."""
    text: str


@dataclass
class TaskProgress:
    """What an agent task is doing, for its status query (kept in the workflow)."""

    agent: str
    state: str = "running"
    """``running``, ``waiting_for_approval``, ``compensating``, ``succeeded``, ``failed``
    or ``cancelled``."""
    step: str = "starting"
    requests: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    waiting_approvals: list[str] = field(default_factory=list)
    transcript: list[TranscriptEntry] = field(default_factory=list)
    last_error: str | None = None
    """The newest failed model request the task retries past; cleared by a success."""

    def record(self, kind: str, value: Any) -> None:
        self.transcript.append(TranscriptEntry(kind, _preview(value)))
        del self.transcript[:-TRANSCRIPT_LIMIT]


@dataclass
class ApprovalRecord:
    """An approval a task asked for, and what was decided."""

    approval_id: str
    tool: str
    tool_call_id: str
    step: int
    decision: str = "waiting"
    """``waiting``, ``approved``, ``denied`` or ``timed_out``."""
    by: str = ""
    reason: str = ""


@runtime_checkable
class TaskContext(Protocol):
    """What the capability needs from the workflow running the agent (``AgentTask`` has it):
    its progress, its Saga, the permits it holds, the undos it registered, and a way to
    publish an event."""

    agent_progress: TaskProgress
    saga: Saga | None
    permits: PermitHolder
    permit_count: int
    undos: list[UndoCall]

    def record(self, kind: str, value: Any, **data: Any) -> None:
        """Note a step in the transcript and publish it as an event."""
        ...


def current_task() -> TaskContext | None:
    """The running workflow as a :class:`TaskContext`, or ``None`` (outside a workflow, or
    an agent run in a workflow of your own)."""
    if not workflow.in_workflow():
        return None
    instance = workflow.instance()
    return instance if isinstance(instance, TaskContext) else None


class AgentHubCapability(AbstractCapability[Any]):
    """See the module docstring; added by :meth:`AgentSpec.build`."""

    def __init__(
        self,
        agent: str,
        tools: dict[str, AnyTool],
        approvers: Sequence[str],
        limiter: LimiterSpec | None = None,
    ) -> None:
        self.agent = agent
        self.tools = tools
        self.approvers = list(approvers)
        self.limiter = limiter

    async def before_run(self, ctx: Any) -> None:
        if not workflow.in_workflow():
            raise UserError(
                f"agent {self.agent!r} runs only durably, in a workflow: start it with "
                "agenthub.agents.run_agent(client, ...) or the AgentTask workflow on a worker "
                "with AgentsPlugin"
            )

    async def before_model_request(self, ctx: Any, request_context: Any) -> Any:
        task = current_task()
        if task is not None:
            task.agent_progress.step = f"model request {task.agent_progress.requests + 1}"
            if hasattr(task, "conversation"):
                task.conversation = ctx.messages  # pydantic-ai's own list: no copy
            # A long task moves to a fresh run here, between two model requests.
            continue_point = getattr(task, "continue_as_new_point", None)
            if continue_point is not None:
                continue_point(ctx, request_context)
        return request_context

    async def wrap_model_request(self, ctx: Any, *, request_context: Any, handler: Any) -> Any:
        task = current_task()
        if self.limiter is None or task is None:
            return await handler(request_context)
        # A permit from the shared limiter first; the id is deterministic (replay-safe).
        task.permit_count += 1
        permit_id = f"{workflow.info().workflow_id}/{workflow.info().run_id}/{task.permit_count}"
        progress: TaskProgress = task.agent_progress
        progress.step = f"waiting for a {self.limiter.name} permit"
        await task.permits.acquire(self.limiter, permit_id)
        progress.step = f"model request {progress.requests + 1}"
        tokens = 0
        try:
            response = await handler(request_context)
            tokens = tokens_of(response)
            return response
        finally:
            await task.permits.release(self.limiter, permit_id, tokens)

    async def after_model_request(self, ctx: Any, *, request_context: Any, response: Any) -> Any:
        task = current_task()
        if task is not None:
            progress: TaskProgress = task.agent_progress
            progress.requests += 1
            progress.last_error = None
            progress.input_tokens += response.usage.input_tokens
            progress.output_tokens += response.usage.output_tokens
            text = "".join(
                getattr(p, "content", "") for p in response.parts if p.part_kind == "text"
            )
            calls = [p.tool_name for p in response.parts if p.part_kind == "tool-call"]
            task.record("model", text or f"calls {', '.join(calls)}")
            task.record(
                "usage", f"{progress.requests} requests",
                requests=progress.requests, input_tokens=progress.input_tokens,
                output_tokens=progress.output_tokens,
            )  # fmt: skip
        return response

    async def wrap_tool_execute(
        self, ctx: Any, *, call: Any, tool_def: Any, args: dict[str, Any], handler: Any
    ) -> Any:
        spec = self.tools.get(call.tool_name)
        task = current_task()
        if task is not None:
            progress = task.agent_progress
            progress.step = f"tool {call.tool_name} ({call.tool_call_id})"
            progress.tool_calls += 1
            task.record("tool_call", f"{call.tool_name}({_preview(args)})", id=call.tool_call_id)
        replay = getattr(task, "tool_replay", None)
        if task is not None and replay is not None:
            recorded = replay.answer(call.tool_name, arguments_digest(args), task.replay_seen)  # type: ignore[attr-defined]
            if recorded is not None:
                return self._replayed(task, call, recorded)
            if not replay.live_tools:
                raise ApplicationError(
                    f"{call.tool_name}({_preview(args)}) is not in the recording: the agent "
                    "called a tool with other arguments, or another tool (run with live tools "
                    "to let it act)",
                    type="ToolCallNotRecorded",
                    non_retryable=True,
                )
        if spec is not None and spec.requires_approval:
            denial = await self._ask(spec, call, args, task)
            if denial is not None:
                return denial
        if spec is not None and spec.compensate is not None:
            saga = task.saga if task is not None else None
            if task is None or saga is None:
                raise UserError(
                    f"tool {spec.name!r} has compensate=, which needs the task's Saga: run the "
                    "agent as an AgentTask (agenthub.agents.run_agent)"
                )
            # Before the call: a call that times out or crashes halfway may have acted.
            info = workflow.info()
            undo = UndoCall(
                self.agent, spec.name, to_jsonable_python(args), call.tool_call_id,
                # Its ledger key: the same in a fork that carries it, so it acts once.
                origin=f"{info.workflow_id}/{info.run_id}/{len(task.undos) + 1}",
                step=task.agent_progress.requests,
            )  # fmt: skip
            saga.add_compensation(run_undo, undo)
            task.undos.append(undo)
        result = await handler(args)
        if task is not None:
            task.record("tool_result", result, id=call.tool_call_id)
        return result

    def _replayed(self, task: TaskContext, call: Any, recorded: Any) -> Any:
        """A recorded result stands in for the call: nothing runs, nothing is undone."""
        task.record("tool_result", recorded.result, id=call.tool_call_id, replayed=True)
        if recorded.error is not None:
            from pydantic_ai.exceptions import ModelRetry

            raise ModelRetry(recorded.error)
        return recorded.result

    async def _ask(
        self, spec: AnyTool, call: Any, args: dict[str, Any], task: TaskContext | None
    ) -> str | None:
        """Wait for the decision on this call; ``None`` if approved, else the denial."""
        from agenthub.patterns.approvals import request_approval

        info = workflow.info()
        instance = workflow.instance()
        seq = getattr(instance, "_agenthub_approval_asks", 0) + 1
        instance._agenthub_approval_asks = seq
        approval_id = call_approval_id(
            spec.name, workflow_id=info.workflow_id, run_id=info.run_id, seq=seq,
            tool_call_id=call.tool_call_id, args=args,
        )  # fmt: skip
        summary = f"{self.agent}: {spec.name}({_preview(args)})"
        progress = task.agent_progress if task is not None else None
        if task is not None and progress is not None:
            progress.waiting_approvals.append(approval_id)
            progress.state = "waiting_for_approval"
            task.record(
                "approval_asked", summary, approval_id=approval_id, tool=spec.name,
                tool_call_id=call.tool_call_id, arguments_digest=arguments_digest(args),
            )  # fmt: skip
        try:
            decision = await request_approval(
                summary,
                approvers=list(spec.approvers or self.approvers),
                timeout=spec.approval_timeout,
                approval_id=approval_id,
                details={
                    "agent": self.agent,
                    "tool": spec.name,
                    "arguments": json.dumps(
                        to_jsonable_python(args, fallback=repr), indent=2, ensure_ascii=False
                    ),
                },
            )
        finally:
            if progress is not None:
                progress.waiting_approvals.remove(approval_id)
                if not progress.waiting_approvals:
                    progress.state = "running"
        records = getattr(task, "approvals", None)
        if records is not None and task is not None:
            verdict = "approved" if decision.approved else "denied"
            records.append(
                ApprovalRecord(
                    approval_id, spec.name, call.tool_call_id, task.agent_progress.requests,
                    "timed_out" if decision.timed_out else verdict, decision.by or "",
                    decision.reason or "",
                )
            )  # fmt: skip
        if task is not None:
            verdict = "approved" if decision.approved else "denied"
            who = decision.by or "nobody"
            task.record("approval", f"{spec.name}: {verdict} by {who}", approval_id=approval_id)
        if decision.approved:
            return None
        if decision.timed_out:
            return (
                f"The call {spec.name} was not approved within {spec.approval_timeout}; it was "
                "not made. Do not retry it unless asked."
            )
        reason = f": {decision.reason}" if decision.reason else ""
        return f"The call {spec.name} was denied by {decision.by}{reason}. It was not made."
