"""``Team``: a goal fanned out to several agents (roles) in parallel, then merged by one.

Members run as :class:`~agenthub.agents.AgentTask` child workflows through agenthub's
``fan_out``, with its failure policies (``FailFast``, ``CollectErrors``, ``Tolerate``) and a
concurrency bound; a merger agent then writes the answer from what the members said. If
the team fails or is cancelled, members in flight undo their own compensated tool calls,
and the team undoes those of members that had already finished, newest first.

Example::

    trip_team = TeamSpec(
        name="trip-team",
        members=[TeamMember("flights", "researcher"), TeamMember("hotels", "researcher")],
        merger="planner",
        failures=CollectErrors(),
    )
    result = await run_team(client, "trip-team", "A week in Lisbon", task_queue="agenthub")
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.workflow_streams import WorkflowStream
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agenthub.agents._client import worker_client
from agenthub.agents.registry import team_spec, team_specs
from agenthub.agents.task import (
    EVENT_TOPIC,
    AgentEvent,
    AgentTask,
    AgentTaskRequest,
    AgentTaskResult,
    AgentUsage,
    ScheduledGoal,
    render_scheduled_goal,
)
from agenthub.agents.undo import UndoCall, run_undo
from agenthub.errors import ConfigurationError
from agenthub.patterns._sdk import describe_failure
from agenthub.patterns.fanout import FailFast, fan_out
from agenthub.patterns.fanout.policy import FailurePolicy
from agenthub.patterns.saga import Saga

__all__ = [
    "MemberOutcome",
    "Team",
    "TeamMember",
    "TeamRequest",
    "TeamResult",
    "TeamSpec",
    "run_team",
    "start_team",
]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class TeamMember:
    """One role of a team, played by an agent (several roles may share an agent)."""

    role: str
    agent: str
    brief: str = ""
    """What this role looks at, added to the goal it gets."""


@dataclass(frozen=True)
class TeamSpec:
    """A team: its members (run in parallel), the agent that merges, and how failures count.

    Args:
        name: unique and stable.
        members: the roles; each gets the goal with its role and brief.
        merger: the agent that writes the team's answer from the members' answers.
        max_concurrency: members running at once.
        failures: ``FailFast()`` (one failure fails the team), ``CollectErrors()`` (merge
            what succeeded) or ``Tolerate(max_failures=...)``.
    """

    name: str
    members: Sequence[TeamMember]
    merger: str
    max_concurrency: int = 4
    failures: FailurePolicy = field(default_factory=FailFast)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ConfigurationError(f"team name {self.name!r}: a letter, then letters, digits")
        if not self.members:
            raise ConfigurationError(f"team {self.name!r} has no members")
        roles = [m.role for m in self.members]
        if len(set(roles)) != len(roles):
            raise ConfigurationError(f"team {self.name!r} has roles named twice: {roles}")
        if self.max_concurrency < 1:
            raise ConfigurationError("TeamSpec.max_concurrency must be at least 1")

    def agents(self) -> set[str]:
        return {m.agent for m in self.members} | {self.merger}


@dataclass
class TeamRequest:
    team: str
    goal: str
    scheduled: ScheduledGoal | None = None
    """Set by a schedule: ``goal`` is a template rendered with the fire time at start."""


@dataclass
class MemberOutcome:
    role: str
    agent: str
    output: Any = None
    error: str = ""


@dataclass
class TeamResult:
    output: Any
    members: list[MemberOutcome]
    usage: AgentUsage


@dataclass
class _Finished:
    team_workflow_id: str
    members: int


def _brief(member: TeamMember, goal: str) -> str:
    brief = f" {member.brief}" if member.brief else ""
    return f"You are the {member.role} of a team.{brief}\n\nGoal: {goal}"


def _add(total: AgentUsage, usage: AgentUsage) -> None:
    total.requests += usage.requests
    total.tool_calls += usage.tool_calls
    total.input_tokens += usage.input_tokens
    total.output_tokens += usage.output_tokens


@activity.defn(name="agenthub.team.finished_member_undos")
async def finished_member_undos(finished: _Finished) -> list[UndoCall]:
    """Compensations of the members that completed (read from their results)."""
    client = worker_client()
    undos: list[UndoCall] = []
    for i in range(finished.members):
        handle = client.get_workflow_handle(
            f"{finished.team_workflow_id}/item-{i}", result_type=AgentTaskResult
        )
        try:
            if (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
                continue  # failed or cancelled members undid their own calls
            undos += (await handle.result()).compensations
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:  # never started: nothing to undo
                raise
    return undos


@workflow.defn(name="agenthub.Team")
class Team:
    """See the module docstring. Live readers follow the team through the same event stream
    as an agent task's (:func:`~agenthub.agents.agent_events`): its goal, each member's
    outcome, the merge, and the answer (or why it failed)."""

    @workflow.init
    def __init__(self, request: TeamRequest) -> None:
        self.events = WorkflowStream()
        self._event_topic = self.events.topic(EVENT_TOPIC, type=AgentEvent)

    def _publish(self, kind: str, text: str, **data: Any) -> None:
        at = workflow.now().timestamp()
        self._event_topic.publish(AgentEvent(kind, text, data or None, at))

    def record(self, kind: str, value: Any, **data: Any) -> None:
        """Publish an event (the undos of members' calls report here)."""
        self._publish(kind, str(value), **data)

    @workflow.run
    async def run(self, request: TeamRequest) -> TeamResult:
        try:
            return await self._run(request)
        except asyncio.CancelledError:
            self._publish("cancelled", "cancelled")
            raise
        except BaseException as err:
            kind, message = describe_failure(err)
            self._publish("failed", f"{kind}: {message}")
            raise

    async def _run(self, request: TeamRequest) -> TeamResult:
        if request.scheduled is not None:
            request = replace(
                request, goal=await render_scheduled_goal(request.goal, request.scheduled)
            )
        spec = team_spec(request.team)
        if spec is None:
            raise ApplicationError(
                f"no team {request.team!r} on this worker (known: {sorted(team_specs())})",
                type="InvalidInput", non_retryable=True,
            )  # fmt: skip
        roles = [f"{m.role} ({m.agent})" for m in spec.members]
        self._publish("goal", f"{request.goal} [team {spec.name}: {', '.join(roles)}]")
        asks = [AgentTaskRequest(m.agent, _brief(m, request.goal)) for m in spec.members]
        usage = AgentUsage()
        async with Saga("team") as saga:
            try:
                fanned = await fan_out(
                    AgentTask, asks, max_concurrency=spec.max_concurrency, failures=spec.failures
                )
            except BaseException:
                # Members in flight undo their own calls; those already done are undone here.
                undos = await asyncio.shield(
                    workflow.execute_activity(
                        finished_member_undos,
                        _Finished(workflow.info().workflow_id, len(asks)),
                        start_to_close_timeout=timedelta(minutes=1),
                    )
                )
                for undo in undos:
                    saga.add_compensation(run_undo, undo)
                raise
            failed = {f.index: f for f in fanned.failures}
            results = iter(TypeAdapter(list[AgentTaskResult]).validate_python(fanned.value))
            outcomes: list[MemberOutcome] = []
            for i, member in enumerate(spec.members):
                who = {"role": member.role, "agent": member.agent}
                if i in failed:
                    error = f"{failed[i].error_type}: {failed[i].message}"
                    outcomes.append(MemberOutcome(member.role, member.agent, error=error))
                    self._publish("member", f"{member.role}: failed: {error}", **who, ok=False)
                    continue
                result = next(results)
                _add(usage, result.usage)
                for undo in result.compensations:
                    saga.add_compensation(run_undo, undo)
                outcomes.append(MemberOutcome(member.role, member.agent, result.output))
                self._publish("member", f"{member.role}: {result.output}", **who, ok=True)
            said = "\n".join(
                f"- {o.role}: {o.output}" if not o.error else f"- {o.role}: (failed: {o.error})"
                for o in outcomes
            )
            self._publish("merge", f"{spec.merger} merges {len(outcomes)} answer(s)")
            merged: AgentTaskResult = await workflow.execute_child_workflow(
                AgentTask.run,
                AgentTaskRequest(
                    spec.merger,
                    f"Merge your team's answers into one.\n\nGoal: {request.goal}\n\n"
                    f"Answers:\n{said}",
                ),
                id=f"{workflow.info().workflow_id}/merge",
            )
            _add(usage, merged.usage)
        self._publish("answer", merged.output, requests=usage.requests, tool_calls=usage.tool_calls)
        return TeamResult(merged.output, outcomes, usage)


async def start_team(
    client: Client, team: str, goal: str, *, task_queue: str, team_id: str | None = None
) -> WorkflowHandle[Team, TeamResult]:
    """Start a :class:`Team` run (``team_id`` defaults to ``<team>-<uuid>``)."""
    return await client.start_workflow(
        Team.run,
        TeamRequest(team, goal),
        id=team_id or f"{team}-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
    )


async def run_team(client: Client, team: str, goal: str, *, task_queue: str) -> TeamResult:
    """Run a team to its merged answer (see :func:`start_team`).

    Raises:
        temporalio.client.WorkflowFailureError: the failure policy tripped, or the merger
            failed.
    """
    handle = await start_team(client, team, goal, task_queue=task_queue)
    return await handle.result()
