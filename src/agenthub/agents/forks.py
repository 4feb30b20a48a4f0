"""Export a hub task as a cassette, and fork a task from one of its steps (the work behind
:meth:`HubTasks.export <agenthub.agents.HubTasks.export>`, ``export_session`` and ``fork``).

A task's record is read with a query (:data:`~agenthub.agents.task.AGENT_RECORD_QUERY`), so
a closed task needs a worker of its agents to answer (the hub's own, under ``agenthub up``);
a team's members are its child workflows ``<team>/item-<n>`` and ``<team>/merge``, a
session's turns its children ``<session>/task-<n>``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from agenthub.agents.cassette import Cassette, cassette_from_record, fork_point, total_usage
from agenthub.agents.registry import agent_entry, team_spec
from agenthub.agents.task import (
    AGENT_RECORD_QUERY,
    TASK_STATUS,
    AgentTaskResult,
    TaskRecord,
    fork_refusal,
)
from agenthub.agents.team import TeamResult
from agenthub.errors import ForkRefused, TaskNotFound
from agenthub.patterns._sdk import describe_failure

if TYPE_CHECKING:
    from agenthub.agents.hub import HubTasks, StartedTask

__all__ = ["export_session", "export_task", "fork_task"]


async def _closed(handle: Any) -> tuple[str, Any, str | None]:
    """Status, output and error of a workflow (output and error once it closed)."""
    desc = await handle.describe()
    status = TASK_STATUS.get(desc.status, "running") if desc.status else "running"
    if status == "succeeded":
        return status, (await handle.result()).output, None
    if status in ("failed", "cancelled", "terminated", "timed_out"):
        try:
            await handle.result()
        except WorkflowFailureError as err:
            kind, message = describe_failure(err.cause)
            return status, None, f"{kind}: {message}"
    return status, None, None


async def _agent_cassette(
    tasks: HubTasks,
    workflow_id: str,
    task_id: str,
    kind: Literal["agent", "member", "turn"] = "agent",
    role: str = "",
) -> Cassette:
    handle = tasks.client.get_workflow_handle(workflow_id, result_type=AgentTaskResult)
    status, output, error = await _closed(handle)
    record: TaskRecord = await handle.query(
        AGENT_RECORD_QUERY, result_type=TaskRecord, rpc_timeout=timedelta(seconds=30)
    )
    return cassette_from_record(
        record, task_id=task_id, workflow_id=workflow_id, status=status, output=output,
        error=error, kind=kind, role=role,
    )  # fmt: skip


async def _children(
    tasks: HubTasks, prefix: str, names: list[str], kind: Literal["member", "turn"]
) -> list[Cassette]:
    """The cassettes of ``<prefix><name>`` for each name, up to the first that never ran."""
    found: list[Cassette] = []
    for name in names:
        try:
            found.append(await _agent_cassette(tasks, f"{prefix}{name}", name, kind, role=name))
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            break
    return found


async def export_task(tasks: HubTasks, task_id: str, *, member: str | None = None) -> Cassette:
    """The cassette of a task of ``tasks``' tenant (a team's with its members; ``member``:
    only that member, by role or ``merge``).

    Raises:
        TaskNotFound: no such task in the tenant, or no such member.
    """
    summary = await tasks.summary(task_id)
    if summary.kind != "team":
        if member is not None:
            raise TaskNotFound(f"task {task_id!r} is not a team: it has no member {member!r}")
        return await _agent_cassette(tasks, summary.workflow_id, task_id)
    handle = tasks.client.get_workflow_handle(summary.workflow_id, result_type=TeamResult)
    status, _, error = await _closed(handle)
    roles = await _roles(handle, summary.agent, status)
    members = await _children(
        tasks, f"{summary.workflow_id}/", [f"item-{i}" for i in range(len(roles) or 1000)],
        "member",
    )  # fmt: skip
    for i, cassette in enumerate(members):
        cassette.role = roles[i] if i < len(roles) else cassette.role
    members += await _children(tasks, f"{summary.workflow_id}/", ["merge"], "member")
    if member is not None:
        match = next((m for m in members if m.role == member), None)
        if match is None:
            known = ", ".join(m.role for m in members) or "none has run yet"
            raise TaskNotFound(f"team task {task_id!r} has no member {member!r} ({known})")
        match.task_id = f"{task_id}.{match.role}"
        return match
    output = (await handle.result()).output if status == "succeeded" else None
    return Cassette(
        kind="team", task_id=task_id, workflow_id=summary.workflow_id, agent=summary.agent,
        goal=summary.goal, status=status, output=output, error=error, members=members,
        usage=total_usage(members),
    )  # fmt: skip


async def _roles(handle: Any, team: str, status: str) -> list[str]:
    """The members' roles in order: from the team's result, else its spec on this host."""
    if status == "succeeded":
        result: TeamResult = await handle.result()
        return [m.role for m in result.members]
    spec = team_spec(team)
    return [m.role for m in spec.members] if spec is not None else []


async def export_session(tasks: HubTasks, session_id: str) -> Cassette:
    """A session's turns (each an agent task: ``members``, ``turn`` = ``task-<n>``).

    Raises:
        TaskNotFound: the tenant has no such session.
    """
    turns_said = await tasks.history(session_id)  # TaskNotFound for an unknown session
    prefix = tasks._sessions().workflow_id(tasks.session_key(session_id)) + "/"
    turns = await _children(tasks, prefix, [f"task-{n}" for n in range(1, 100_000)], "turn")
    return Cassette(
        kind="session", task_id=session_id, workflow_id=prefix.rstrip("/"),
        agent=turns[0].agent if turns else "", goal=turns_said[0].text if turns_said else "",
        status="running", members=turns,
        usage=total_usage(turns),
    )  # fmt: skip


async def fork_task(
    tasks: HubTasks,
    source: str | Cassette,
    *,
    at: int,
    member: str | None = None,
    turn: str | None = None,
    agent: str | None = None,
    instructions: str | None = None,
    model: str | None = None,
    task_id: str | None = None,
    requested_by: str = "",
    redo_undone: bool = False,
) -> StartedTask:
    """Start a fork of ``source`` (a task id of the tenant, or a cassette) after step ``at``.

    Raises:
        TaskNotFound: no such task (or member, or session turn) in the tenant.
        ForkRefused: see :func:`~agenthub.agents.cassette.fork_point`, or ``agent`` lacks a
            tool the replayed steps called.
        UnknownAgent: no agent of that name on the hub.
    """
    if isinstance(source, Cassette):
        cassette = source
    elif turn is not None:
        session = await export_session(tasks, source)
        cassette = next((t for t in session.members if t.role == turn), None)  # type: ignore[assignment]
        if cassette is None:
            raise TaskNotFound(f"session {source!r} has no turn {turn!r}")
        cassette.task_id = f"{source}.{turn}"
    else:
        cassette = await export_task(tasks, source, member=member)
    point = fork_point(cassette, at, redo_undone=redo_undone)
    target = agent or cassette.agent
    entry = agent_entry(target)
    if entry is not None:  # checked here when this host knows the agent, else by the worker
        refusal = fork_refusal(entry[1], point)
        if refusal is not None:
            raise ForkRefused(refusal)
    return await tasks.start(
        target,
        cassette.goal,
        task_id=task_id,
        requested_by=requested_by,
        fork=point,
        instructions=instructions,
        model=model,
    )
