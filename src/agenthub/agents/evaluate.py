"""Evaluate an agent as it is now against recorded runs (cassettes).

Each cassette is a case: its goal (and a session turn's earlier conversation) runs against
the agent, with ``instructions`` or ``model`` changed if given, and every tool call answered
from the recording when it matches one (same tool, same arguments); a call the recording
does not have fails the case (``ToolCallNotRecorded``) unless ``live_tools``, which lets it
act for real. The cases run as one :class:`Evaluation` workflow that fans out an
:class:`~agenthub.agents.AgentTask` per case (bounded concurrency; the agents' shared
limiter applies as to live tasks). Each case is scored: the answer (``equals``,
``contains`` the original's, or ``any``) and the tool-call sequence, against the original.

Example::

    report = await evaluate(client, cassettes, agent="trip", task_queue="agenthub",
                            instructions="Prefer trains.")
    print(report.passed, "of", len(report.cases))
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from pydantic import TypeAdapter
from temporalio import workflow
from temporalio.client import Client

from agenthub.agents.cassette import Cassette, tool_calls_of, tool_replay
from agenthub.agents.task import AgentTask, AgentTaskRequest, AgentTaskResult, AgentUsage
from agenthub.patterns.fanout import CollectErrors, fan_out

__all__ = ["CaseResult", "EvalReport", "Evaluation", "EvaluationRequest", "evaluate"]

AnswerCheck = Literal["equals", "contains", "any"]


@dataclass
class EvaluationRequest:
    cases: list[AgentTaskRequest]
    max_concurrency: int = 4


@dataclass
class CaseRun:
    """What one case's task did: its answer and tool calls, or why it failed."""

    output: Any = None
    tool_calls: list[str] = field(default_factory=list)
    usage: AgentUsage = field(default_factory=AgentUsage)
    error: str | None = None


@workflow.defn(name="agenthub.Evaluation")
class Evaluation:
    """Runs every case as a child :class:`AgentTask` (``<id>/item-<n>``), at most
    ``max_concurrency`` at once, and returns each one's run, failed or not."""

    @workflow.run
    async def run(self, request: EvaluationRequest) -> list[CaseRun]:
        fanned = await fan_out(
            AgentTask, request.cases, max_concurrency=request.max_concurrency,
            failures=CollectErrors(),
        )  # fmt: skip
        failed = {f.index: f for f in fanned.failures}
        results = iter(TypeAdapter(list[AgentTaskResult]).validate_python(fanned.value))
        runs: list[CaseRun] = []
        for i in range(len(request.cases)):
            if i in failed:
                runs.append(CaseRun(error=f"{failed[i].error_type}: {failed[i].message}"))
                continue
            result = next(results)
            runs.append(CaseRun(result.output, tool_calls_of(result.messages), result.usage))
        return runs


@dataclass
class CaseResult:
    """One case: the original against the run now, and whether it passed."""

    name: str
    passed: bool
    answer_changed: bool
    tool_calls_changed: bool
    original_answer: Any
    answer: Any
    original_tool_calls: list[str]
    tool_calls: list[str]
    original_usage: AgentUsage
    usage: AgentUsage
    error: str | None = None
    reasons: list[str] = field(default_factory=list)
    """Why it did not pass (one line each)."""


@dataclass
class EvalReport:
    agent: str
    cases: list[CaseResult]
    answer_check: str
    instructions: str | None = None
    model: str | None = None
    live_tools: bool = False

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.cases)

    @property
    def regressed(self) -> list[CaseResult]:
        """The cases that did not pass."""
        return [c for c in self.cases if not c.passed]


def score(name: str, cassette: Cassette, run: CaseRun, answer_check: AnswerCheck) -> CaseResult:
    """Compare a case's run with its original (see the module docstring)."""
    original_calls = cassette.tool_sequence()
    answer_changed = run.error is not None or run.output != cassette.output
    tools_changed = run.error is not None or run.tool_calls != original_calls
    reasons: list[str] = []
    if run.error is not None:
        reasons.append(f"failed: {run.error}")
    else:
        if answer_check == "equals" and answer_changed:
            reasons.append("answer differs from the original")
        if answer_check == "contains" and str(cassette.output) not in str(run.output):
            reasons.append("answer does not contain the original answer")
        if tools_changed:
            reasons.append(
                f"tool calls {' > '.join(run.tool_calls) or '(none)'} instead of "
                f"{' > '.join(original_calls) or '(none)'}"
            )
    usage = cassette.usage
    return CaseResult(
        name=name, passed=not reasons, answer_changed=answer_changed,
        tool_calls_changed=tools_changed, original_answer=cassette.output, answer=run.output,
        original_tool_calls=original_calls, tool_calls=run.tool_calls,
        original_usage=AgentUsage(usage.requests, usage.tool_calls, usage.input_tokens,
                                  usage.output_tokens),
        usage=run.usage, error=run.error, reasons=reasons,
    )  # fmt: skip


async def evaluate(
    client: Client,
    cases: dict[str, Cassette],
    *,
    agent: str,
    task_queue: str,
    instructions: str | None = None,
    model: str | None = None,
    live_tools: bool = False,
    answer_check: AnswerCheck = "equals",
    max_concurrency: int = 4,
    evaluation_id: str | None = None,
) -> EvalReport:
    """Run each cassette (by case name) against ``agent`` and score it (see the module
    docstring). A worker with the agent (``AgentsPlugin``) must poll ``task_queue``."""
    requests = [
        AgentTaskRequest(
            agent,
            cassette.goal,
            history=cassette.messages[: cassette.history_base] or None,
            instructions=instructions,
            model=model,
            replay=tool_replay(cassette, live_tools=live_tools),
        )
        for cassette in cases.values()
    ]
    runs: list[CaseRun] = await client.execute_workflow(
        Evaluation.run,
        EvaluationRequest(requests, max_concurrency=max_concurrency),
        id=evaluation_id or f"agenthub-eval-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
        execution_timeout=timedelta(hours=6),
    )
    return EvalReport(
        agent=agent,
        cases=[
            score(name, cassette, run, answer_check)
            for (name, cassette), run in zip(cases.items(), runs, strict=True)
        ],
        answer_check=answer_check,
        instructions=instructions,
        model=model,
        live_tools=live_tools,
    )
