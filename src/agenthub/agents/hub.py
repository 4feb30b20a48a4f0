"""The hub's tasks and sessions, per tenant: what the HTTP API and the CLI share.

A tenant's tasks live under workflow ids ``hub/<tenant>/task/<task id>`` and its sessions
under ``hub/<tenant>/session/<session id>``: a task id is only ever resolved inside the
caller's tenant, so another tenant's task is not found rather than refused. Starting is
idempotent by task id: the same id with the same request returns the task already started
(even after it finished), a different request gets :class:`~agenthub.errors.TaskConflict`.

Example::

    tasks = HubTasks(client, tenant="acme", task_queue="agenthub", agents=agent_specs())
    started = await tasks.start("trip", "Two nights in Lisbon", task_id="order-42")
    async for item in tasks.events(started.task.task_id):
        print(item.offset, item.event.kind, item.event.text)
    print((await tasks.get("order-42")).output)
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import PinnedVersioningOverride, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from agenthub.agents.capability import TaskProgress, TranscriptEntry
from agenthub.agents.cassette import Cassette
from agenthub.agents.session import (
    AgentSession,
    SessionReply,
    SessionTurn,
    send_message,
    session_transcript,
)
from agenthub.agents.shared_events import SharedEvents
from agenthub.agents.spec import AgentLimits, check_model_name
from agenthub.agents.task import (
    TASK_MEMO,
    TASK_STATUS,
    AgentEventItem,
    AgentTask,
    AgentTaskRequest,
    AgentTaskResult,
    AgentUsage,
    ForkPoint,
    agent_events,
    agent_task_status,
)
from agenthub.agents.team import Team, TeamRequest, TeamResult
from agenthub.errors import (
    ConfigurationError,
    InvalidInput,
    TaskConflict,
    TaskFinished,
    TaskNotFound,
    UnknownAgent,
)
from agenthub.patterns._sdk import describe_failure
from agenthub.patterns.entity import EntityClient
from agenthub.runtime.worker import current_version

__all__ = [
    "HubTasks",
    "SessionSummary",
    "SharedEvents",
    "StartedTask",
    "TaskSummary",
    "TaskView",
    "task_workflow_id",
    "web_ui_link",
]

ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}"
_ID = re.compile(ID_PATTERN)
_TASK_TYPES = ("agenthub.AgentTask", "agenthub.Team")
_RUNNING_STATES = ("waiting_for_approval", "compensating")


def check_id(kind: str, value: str) -> str:
    """``value`` if it is a usable task or session id.

    Raises:
        InvalidInput: it is empty, too long, or has characters other than letters, digits
            and ``. _ : @ + -``.
    """
    if not _ID.fullmatch(value):
        raise InvalidInput(
            f"{kind} {value[:80]!r} is not valid: 1-128 letters, digits or . _ : @ + -, "
            "starting with a letter or digit"
        )
    return value


def task_workflow_id(tenant: str, task_id: str) -> str:
    """The workflow id of ``task_id`` in ``tenant``."""
    return f"hub/{tenant}/task/{task_id}"


def web_ui_link(base: str, namespace: str, workflow_id: str) -> str:
    """The Temporal web UI page of ``workflow_id`` (``""`` when there is no UI)."""
    if not base:
        return ""
    return f"{base.rstrip('/')}/namespaces/{quote(namespace)}/workflows/{quote(workflow_id, '')}"


@dataclass
class TaskSummary:
    """A task as lists show it."""

    task_id: str
    agent: str
    goal: str
    status: str
    """``running``, ``succeeded``, ``failed``, ``cancelled``, ``terminated`` or
    ``timed_out``."""
    tenant: str
    requested_by: str = ""
    started_at: datetime | None = None
    closed_at: datetime | None = None
    workflow_id: str = ""
    web_url: str = ""
    kind: str = "agent"
    """``agent`` (an :class:`AgentTask`) or ``team`` (a :class:`Team`)."""
    parent: str = ""
    """For a fork: the task it was forked from and the step, ``<task id>@<step>``."""


@dataclass
class TaskView(TaskSummary):
    """A task in full: its step, usage, answer or error, and the newest transcript entries."""

    step: str = ""
    usage: AgentUsage = field(default_factory=AgentUsage)
    output: Any = None
    error: str | None = None
    last_error: str | None = None
    """The newest failure the task met and retries past (a model request that failed:
    ``ModelConnectionError: ... (attempt 2, retry at 12:00:03)``); ``None`` once one
    succeeds."""
    transcript: list[TranscriptEntry] = field(default_factory=list)


@dataclass
class SessionSummary:
    """A session as lists show it."""

    session_id: str
    run_started_at: datetime | None = None
    """When its current run started (a session continues as new as it grows)."""


@dataclass
class StartedTask:
    """The task a start request names, and whether this request created it."""

    task: TaskSummary
    created: bool


def _request_digest(agent: str, goal: str, limits: AgentLimits | None, *changes: str | None) -> str:
    limits_json = None
    if limits is not None:
        limits_json = {
            **asdict(limits),
            "deadline": limits.deadline and limits.deadline.total_seconds(),
        }
    forked = [c for c in changes if c is not None]  # a fork's origin and overrides
    canonical = json.dumps([agent, goal, limits_json, *forked], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


T = TypeVar("T")


class Gate(Protocol):
    """Sends to one workflow in turn (see :class:`HubTasks`' ``gate``)."""

    def __call__(self, workflow_id: str, send: Callable[[], Awaitable[T]], /) -> Awaitable[T]: ...


async def _at_once(workflow_id: str, send: Callable[[], Awaitable[T]]) -> T:
    return await send()


class HubTasks:
    """Agent tasks and sessions of one tenant (see the module docstring).

    Args:
        client: a client whose workers run the agents (``AgentsPlugin``).
        tenant: the caller's tenant; ids are resolved inside it only.
        task_queue: where tasks and sessions run.
        agents: the agent names the hub runs, checked before anything starts; ``None``
            skips the check (the task then fails at once on an unknown name).
        ui_url: the Temporal web UI, for links (``""``: no links).
        shared_events: readers of one task share one subscription (the HTTP API's many
            SSE readers); ``None``: each reader subscribes on its own.
        teams: the team names the hub runs: a task may name a team instead of an agent
            (it runs as a :class:`~agenthub.agents.Team`; its answer and members' outcomes
            are read with :meth:`get`, its goal, members, merge and answer followed with
            :meth:`events`).
        deployment: the Worker Deployment of versioned workers (``AGENTHUB_BUILD_ID``):
            each task is pinned to the version current when it starts, so it finishes on
            that code whatever is promoted meanwhile; ``""``: unversioned.
        gate: how a request that sends to one workflow (a cancel, a session message) waits
            its turn: ``gate(workflow_id, send)`` awaits ``send()``; the HTTP API's
            :class:`~agenthub.api._shared.UpdateGate` keeps it under the server's limit of
            updates in flight per workflow. Default: send at once.
    """

    def __init__(
        self,
        client: Client,
        *,
        tenant: str = "default",
        task_queue: str = "agenthub",
        agents: Collection[str] | None = None,
        ui_url: str = "",
        shared_events: SharedEvents | None = None,
        teams: Collection[str] = (),
        gate: Gate | None = None,
        deployment: str = "",
    ) -> None:
        self.gate: Gate = gate or _at_once
        self.deployment = deployment
        self.shared_events = shared_events
        self.teams = teams
        self.client = client
        self.tenant = tenant
        self.task_queue = task_queue
        self.agents = agents
        self.ui_url = ui_url

    def workflow_id(self, task_id: str) -> str:
        return task_workflow_id(self.tenant, check_id("task id", task_id))

    def _handle(self, task_id: str) -> WorkflowHandle[AgentTask, AgentTaskResult]:
        return self.client.get_workflow_handle_for(AgentTask.run, self.workflow_id(task_id))

    def _check_agent(self, agent: str) -> None:
        if self.agents is not None and agent not in self.agents and agent not in self.teams:
            known = sorted([*self.agents, *self.teams])
            raise UnknownAgent(
                f"no agent or team {agent[:80]!r} on this hub; known: {known} (declare it in "
                "agenthub.toml or an AgentsPlugin given to `agenthub up --app`)"
            )

    async def start(
        self,
        agent: str,
        goal: str,
        *,
        task_id: str | None = None,
        limits: AgentLimits | None = None,
        requested_by: str = "",
        fork: ForkPoint | None = None,
        instructions: str | None = None,
        model: str | None = None,
    ) -> StartedTask:
        """Start ``agent`` on ``goal``, or return the task this id started already
        (``fork``, ``instructions``, ``model``: see :meth:`fork`).

        Raises:
            UnknownAgent: no such agent on the hub (nothing is started).
            InvalidInput: the task id or the goal is unusable.
            TaskConflict: the id was used with a different agent, goal or limits.
        """
        self._check_agent(agent)
        if not goal.strip():
            raise InvalidInput("goal must not be empty: say what the agent should do")
        team = agent in self.teams
        if team and limits is not None:
            raise InvalidInput(
                f"{agent!r} is a team: limits apply to each member's agent, not to the team"
            )
        task_id = check_id("task id", task_id) if task_id else f"{agent}-{uuid.uuid4().hex[:12]}"
        if team and fork is not None:
            raise InvalidInput(f"{agent!r} is a team: fork one of its members' tasks instead")
        parent = f"{fork.parent}@{fork.step}" if fork is not None else None
        digest = _request_digest(agent, goal, limits, parent, instructions, model)
        memo = {
            TASK_MEMO: {
                "agent": agent,
                "goal": goal[:500],
                "tenant": self.tenant,
                "by": requested_by,
                "request": digest,
                "team": team,
                **({"parent": parent} if parent else {}),
            }
        }
        request = AgentTaskRequest(
            agent, goal, limits, fork=fork, instructions=instructions, model=model
        )
        version = await current_version(self.client, self.deployment) if self.deployment else None
        try:
            handle = await self.client.start_workflow(
                Team.run if team else AgentTask.run,  # type: ignore[misc]
                TeamRequest(agent, goal) if team else request,
                id=self.workflow_id(task_id),
                task_queue=self.task_queue,
                memo=memo,
                # A finished task's id stays taken: a retried start finds it, never reruns it.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                request_eager_start=True,
                versioning_override=PinnedVersioningOverride(version) if version else None,
            )
        except WorkflowAlreadyStartedError:
            existing = await self._describe(task_id)
            recorded = (await existing.memo()).get(TASK_MEMO, {})
            if recorded.get("request") != digest:
                raise TaskConflict(
                    f"task id {task_id!r} was used for another request (agent "
                    f"{recorded.get('agent')!r}); send the same request to read it, or pick a "
                    "new id"
                ) from None
            return StartedTask(await self._summary(task_id, existing), created=False)
        summary = TaskSummary(
            task_id=task_id, agent=agent, goal=goal[:500], status="running", tenant=self.tenant,
            requested_by=requested_by, started_at=datetime.now(UTC),
            workflow_id=handle.id,
            web_url=web_ui_link(self.ui_url, self.client.namespace, handle.id),
            kind="team" if team else "agent", parent=parent or "",
        )  # fmt: skip
        return StartedTask(summary, created=True)

    async def export(self, task_id: str, *, member: str | None = None) -> Cassette:
        """The task's :class:`~agenthub.agents.cassette.Cassette` (running or closed; a
        team's with its members; ``member``: one member, by role or ``merge``).

        Raises:
            TaskNotFound: no such task (or member) in this tenant.
        """
        from agenthub.agents.forks import export_task

        return await export_task(self, task_id, member=member)

    async def export_session(self, session_id: str) -> Cassette:
        """The session's turns as one cassette (each turn an agent task in ``members``).

        Raises:
            TaskNotFound: the tenant has no such session.
        """
        from agenthub.agents.forks import export_session

        return await export_session(self, session_id)

    async def fork(
        self,
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
        """Start a new task from ``source`` (a task id, with ``member`` for a team's member
        or ``turn`` for a session's turn ``task-<n>`` with ``source`` the session id; or a
        cassette) whose first ``at`` steps are the original's, replayed: recorded model
        responses and tool results, no tool runs again, the undos of their compensated calls
        carried (a failure later undoes them once, under the original's keys). From there
        it runs live, with ``agent``, ``instructions`` or ``model`` changed if given. The
        fork names its parent (``TaskSummary.parent``, a ``forked`` event). When the
        original undid calls of the replayed steps (it failed or was cancelled), the fork is
        refused unless ``redo_undone``: then the step that made them is made again, live.

        Example::

            forked = await tasks.fork("trip-42", at=2, instructions="Prefer trains.")

        Raises:
            TaskNotFound: no such task, member or turn in this tenant.
            ForkRefused: ``at`` is out of range, the answer, or not finished yet; or the
                agent lacks a tool the replayed steps called (named).
        """
        from agenthub.agents.forks import fork_task

        if agent is not None:
            self._check_agent(agent)
        if model is not None:
            try:
                check_model_name(model)
            except ConfigurationError as err:
                raise InvalidInput(str(err)) from None
        return await fork_task(
            self, source, at=at, member=member, turn=turn, agent=agent,
            instructions=instructions, model=model, task_id=task_id, requested_by=requested_by,
            redo_undone=redo_undone,
        )  # fmt: skip

    async def _describe(self, task_id: str) -> WorkflowExecutionDescription:
        try:
            return await self._handle(task_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise TaskNotFound(f"no task {task_id!r} in tenant {self.tenant!r}") from None
            raise

    async def _summary(self, task_id: str, execution: WorkflowExecution) -> TaskSummary:
        """The task as lists show it, from its description or a list entry alike."""
        if execution.workflow_type not in _TASK_TYPES:
            raise TaskNotFound(f"no task {task_id!r} in tenant {self.tenant!r}")
        recorded = (await execution.memo()).get(TASK_MEMO, {})
        return TaskSummary(
            task_id=task_id,
            agent=str(recorded.get("agent", "")),
            goal=str(recorded.get("goal", "")),
            status=TASK_STATUS.get(execution.status, "running") if execution.status else "running",
            tenant=self.tenant,
            requested_by=str(recorded.get("by", "")),
            started_at=execution.start_time,
            closed_at=execution.close_time,
            workflow_id=execution.id,
            web_url=web_ui_link(self.ui_url, self.client.namespace, execution.id),
            kind="team" if execution.workflow_type == "agenthub.Team" else "agent",
            parent=str(recorded.get("parent", "")),
        )

    async def get(self, task_id: str) -> TaskView:
        """The task's state, step, usage, transcript, and its answer or error once closed.

        Raises:
            TaskNotFound: no task of that id in this tenant.
        """
        desc = await self._describe(task_id)
        view = TaskView(**asdict(await self._summary(task_id, desc)))
        if desc.workflow_type == "agenthub.Team":
            return await self._team_view(view)
        handle = self._handle(task_id)
        if view.status == "succeeded":
            result = await handle.result()
            view.output, view.usage, view.transcript = (
                result.output,
                result.usage,
                list(result.transcript),
            )
            view.step = "done"
            return view
        if view.status in ("failed", "timed_out", "terminated", "cancelled"):
            try:
                await handle.result()
            except WorkflowFailureError as err:
                kind, message = describe_failure(err.cause)
                view.error = f"{kind}: {message}"
        progress = await self._progress(handle)
        if progress is not None:
            view.step = progress.step
            view.usage = AgentUsage(
                progress.requests, progress.tool_calls, progress.input_tokens,
                progress.output_tokens,
            )  # fmt: skip
            view.transcript = list(progress.transcript)
            view.last_error = progress.last_error
            # Only states that a running workflow has: "succeeded" (or "failed") is read
            # from the closed workflow, together with its output (or error) and closed_at.
            if view.status == "running" and progress.state in _RUNNING_STATES:
                view.status = progress.state
            elif view.status == "running" and progress.state != "running":
                view.step = "finishing"
        return view

    async def _team_view(self, view: TaskView) -> TaskView:
        handle = self.client.get_workflow_handle(view.workflow_id, result_type=TeamResult)
        if view.status == "running":
            view.step = "members at work"
            return view
        try:
            result = await handle.result()
        except WorkflowFailureError as err:
            kind, message = describe_failure(err.cause)
            view.error = f"{kind}: {message}"
            return view
        view.step, view.output, view.usage = "done", result.output, result.usage
        view.transcript = [
            TranscriptEntry("member", f"{m.role} ({m.agent}): {m.error or m.output}")
            for m in result.members
        ]
        return view

    async def _progress(self, handle: WorkflowHandle[Any, Any]) -> TaskProgress | None:
        try:
            return await agent_task_status(handle, timeout=timedelta(seconds=5))
        except Exception:  # no worker answers right now: the summary still stands
            return None

    async def list_tasks(self, *, limit: int = 50, status: str | None = None) -> list[TaskSummary]:
        """The tenant's tasks, newest first (``status``: only those, e.g. ``running``)."""
        types = " OR ".join(f'WorkflowType = "{t}"' for t in _TASK_TYPES)
        # Members of a team are tasks' children under the team's id: not listed on their own.
        # A long task that continued as new is one task: its earlier runs are not listed.
        query = (
            f'({types}) AND WorkflowId STARTS_WITH "{task_workflow_id(self.tenant, "")}" '
            'AND ParentWorkflowId IS NULL AND ExecutionStatus != "ContinuedAsNew"'
        )
        if status is not None:
            names = {v: k for k, v in TASK_STATUS.items()}
            if status not in names:
                raise InvalidInput(f"status {status!r} is not one of {sorted(names)}")
            query += f' AND ExecutionStatus = "{names[status].name.title().replace("_", "")}"'
        found: list[TaskSummary] = []
        prefix = task_workflow_id(self.tenant, "")
        async for execution in self.client.list_workflows(query, limit=limit):
            found.append(await self._summary(execution.id.removeprefix(prefix), execution))
        return found

    async def summary(self, task_id: str) -> TaskSummary:
        """The task as lists show it (no query: needs no worker).

        Raises:
            TaskNotFound: no task of that id in this tenant.
        """
        return await self._summary(task_id, await self._describe(task_id))

    async def list_sessions(self, *, limit: int = 50) -> list[SessionSummary]:
        """The tenant's open sessions, most recently continued first."""
        prefix = self._sessions().workflow_id(self.session_key("x")).removesuffix("x")
        query = (
            f'WorkflowType = "agenthub.AgentSession" AND WorkflowId STARTS_WITH "{prefix}" '
            'AND ExecutionStatus = "Running"'
        )
        found: list[SessionSummary] = []
        async for execution in self.client.list_workflows(query, limit=limit):
            found.append(SessionSummary(execution.id.removeprefix(prefix), execution.start_time))
        return found

    async def cancel(self, task_id: str) -> TaskSummary:
        """Ask the task to stop: its compensated tool calls are undone, newest first.

        Raises:
            TaskNotFound: no task of that id in this tenant.
            TaskFinished: it is closed already.
        """
        desc = await self._describe(task_id)
        summary = await self._summary(task_id, desc)
        if summary.status != "running":
            raise TaskFinished(f"task {task_id!r} has ended ({summary.status}); nothing to cancel")
        try:
            # Asking twice is harmless: the server keeps one cancel request per run.
            await self.gate(summary.workflow_id, self._handle(task_id).cancel)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            # It closed between the look and the cancel.
            ended = await self._summary(task_id, await self._describe(task_id))
            raise TaskFinished(
                f"task {task_id!r} has ended ({ended.status}); nothing to cancel"
            ) from None
        summary.status = "cancelling"
        return summary

    async def events(self, task_id: str, *, from_offset: int = 0) -> AsyncIterator[AgentEventItem]:
        """The task's events from ``from_offset`` on, live, until it ends (see
        :func:`~agenthub.agents.agent_events`).

        Raises:
            TaskNotFound: no task of that id in this tenant (checked before the first event).
        """
        desc = await self._describe(task_id)
        await self._summary(task_id, desc)
        if self.shared_events is not None:
            return self.shared_events.read(self.workflow_id(task_id), from_offset=from_offset)
        return agent_events(self.client, self.workflow_id(task_id), from_offset=from_offset)

    def _sessions(self) -> EntityClient[AgentSession]:
        return EntityClient(self.client, AgentSession, task_queue=self.task_queue)

    def session_key(self, session_id: str) -> str:
        return f"hub/{self.tenant}/session/{check_id('session id', session_id)}"

    async def send(
        self, session_id: str, agent: str, text: str, *, message_id: str | None = None
    ) -> SessionReply:
        """Send ``text`` to the session (started on first use) and wait for the reply; the
        same ``message_id`` again returns the first reply."""
        self._check_agent(agent)
        if not text.strip():
            raise InvalidInput("text must not be empty")
        if message_id is not None:
            check_id("message id", message_id)
        key = self.session_key(session_id)
        return await self.gate(
            key,
            lambda: send_message(
                self.client, agent, key, text, task_queue=self.task_queue, message_id=message_id
            ),
        )

    async def history(self, session_id: str) -> list[SessionTurn]:
        """What was said in the session, oldest first.

        Raises:
            TaskNotFound: the tenant has no such session.
        """
        try:
            return await session_transcript(
                self.client, self.session_key(session_id), task_queue=self.task_queue
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise TaskNotFound(f"no session {session_id!r} in tenant {self.tenant!r}") from None
            raise
