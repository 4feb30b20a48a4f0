"""Routes of agent tasks (start, read, stream events, cancel), sessions and the agent list.

Every route acts inside the tenant of the caller's token: another tenant's task answers 404,
exactly like a task that does not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from agenthub.agents.cassette import Cassette
from agenthub.agents.hub import ID_PATTERN, TaskSummary, TaskView
from agenthub.agents.registry import agent_specs
from agenthub.agents.session import SessionReply, SessionTurn
from agenthub.agents.spec import AgentLimits
from agenthub.agents.task import AgentEventItem
from agenthub.api._shared import authenticate, errors, hub, principal, tasks_of, while_open
from agenthub.errors import InvalidInput

router = APIRouter(dependencies=[Depends(authenticate)])

MAX_GOAL = 100_000
"""Characters of a goal or a message (a longer text belongs in a file the agent reads)."""

TaskId = Annotated[str, Field(pattern=f"^{ID_PATTERN}$", examples=["order-42"])]
AgentName = Annotated[str, Field(min_length=1, max_length=64, examples=["trip"])]


class LimitsBody(BaseModel):
    """Overrides of the agent's limits for one task."""

    max_requests: Annotated[int, Field(gt=0, le=10_000)] | None = None
    max_tool_calls: Annotated[int, Field(gt=0, le=100_000)] | None = None
    max_total_tokens: Annotated[int, Field(gt=0)] | None = None
    deadline_seconds: Annotated[float, Field(gt=0, le=365 * 86400)] | None = None


class StartTask(BaseModel):
    """Body of ``POST /tasks``. Send it again with the same ``task_id`` to get the same task
    (a retry never starts a second one)."""

    agent: AgentName
    goal: Annotated[str, Field(min_length=1, max_length=MAX_GOAL)]
    task_id: TaskId | None = None
    """Your id for the task; default ``<agent>-<random>``."""
    limits: LimitsBody | None = None


class SendMessage(BaseModel):
    """Body of ``POST /sessions/{session_id}/messages``."""

    agent: AgentName
    text: Annotated[str, Field(min_length=1, max_length=MAX_GOAL)]
    message_id: TaskId | None = None
    """Your id for the message: sent again, it returns the first reply."""


class SessionHistory(BaseModel):
    session_id: str
    turns: list[SessionTurn]


class AgentInfo(BaseModel):
    name: str
    description: str
    model: str
    tools: list[str]
    approvers: list[str]


def _limits(body: LimitsBody | None) -> AgentLimits | None:
    if body is None:
        return None
    deadline = timedelta(seconds=body.deadline_seconds) if body.deadline_seconds else None
    return AgentLimits(body.max_requests, body.max_tool_calls, body.max_total_tokens, deadline)


@router.get("/agents", tags=["agents"], response_model=list[AgentInfo], responses=errors(401))
async def agents() -> list[AgentInfo]:
    """The agents this hub runs."""
    return [
        AgentInfo(
            name=spec.name,
            description=spec.description,
            model=spec.model if isinstance(spec.model, str) else type(spec.model).__name__,
            tools=[t.name for t in spec.agent_tools()],
            approvers=list(spec.approvers),
        )
        for spec in agent_specs().values()
    ]


@router.post(
    "/tasks",
    tags=["tasks"],
    status_code=201,
    response_model=TaskSummary,
    responses={
        200: {"description": "the task this id started already"},
        **errors(401, 409, 422, 503),
    },
)
async def start_task(request: Request, body: StartTask, response: Response) -> TaskSummary:
    """Start an agent task: 201 when this request started it, 200 when the same request
    (same ``task_id``, agent, goal and limits) started it before; 409 when the id was used
    for a different request; 422 for an unknown agent (nothing is started)."""
    started = await tasks_of(request).start(
        body.agent, body.goal, task_id=body.task_id, limits=_limits(body.limits),
        requested_by=principal(request).identity,
    )  # fmt: skip
    if not started.created:
        response.status_code = 200
    response.headers["Location"] = f"/tasks/{started.task.task_id}"
    return started.task


@router.get("/tasks", tags=["tasks"], response_model=list[TaskSummary], responses=errors(401, 422))
async def list_tasks(
    request: Request,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[TaskSummary]:
    """The tenant's tasks, newest first (``?status=running`` for the running ones)."""
    return await tasks_of(request).list_tasks(limit=limit, status=status)


@router.get(
    "/tasks/{task_id}", tags=["tasks"], response_model=TaskView, responses=errors(401, 404, 422)
)
async def get_task(request: Request, task_id: str) -> TaskView:
    """The task's status, step, usage and transcript, and its answer (``output``) or error
    once it ended."""
    return await tasks_of(request).get(task_id)


@router.post(
    "/tasks/{task_id}/cancel",
    tags=["tasks"],
    status_code=202,
    response_model=TaskSummary,
    responses=errors(401, 404, 409, 422, 429, 503),
)
async def cancel_task(request: Request, task_id: str) -> TaskSummary:
    """Cancel the task: its compensated tool calls are undone, newest first (watch the
    events or ``GET /tasks/{id}`` for the end); 409 when it already ended."""
    return await tasks_of(request).cancel(task_id)


def _resume_offset(last_event_id: str | None, from_offset: int) -> int:
    if last_event_id is None or not last_event_id.strip():
        return from_offset
    try:
        last = int(last_event_id)
    except ValueError:
        raise InvalidInput(
            f"Last-Event-ID {last_event_id[:40]!r} is not an event id (ids are offsets: 0, 1, ...)"
        ) from None
    if last < -1:
        raise InvalidInput("Last-Event-ID must be >= -1")
    return last + 1


async def _event_source(
    request: Request,
    task_id: str,
    from_offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> AsyncIterator[AgentEventItem]:
    # A dependency, so an unknown task is a 404 before the stream starts.
    return await tasks_of(request).events(
        task_id, from_offset=_resume_offset(last_event_id, from_offset)
    )


@router.get(
    "/tasks/{task_id}/events",
    tags=["tasks"],
    response_class=EventSourceResponse,
    responses=errors(401, 404, 422),
)
async def task_events(
    request: Request,
    task_id: str,
    source: Annotated[AsyncIterator[AgentEventItem], Depends(_event_source)],
) -> AsyncIterator[ServerSentEvent]:
    """The task's events as Server-Sent Events, live, until it ends (then one ``end``
    event). Each event's ``id`` is its offset: reconnect with ``Last-Event-ID`` (browsers
    do it on their own) or ``?from_offset=`` to resume with no loss and no duplicates."""
    try:
        async for item in while_open(request, source):
            event = item.event
            data = {"kind": event.kind, "text": event.text, "data": event.data, "at": event.at}
            yield ServerSentEvent(id=str(item.offset), event=event.kind, data=data)
    finally:
        # A reader that leaves stops reading now (the last one stops the subscription).
        closing = getattr(source, "aclose", None)
        if closing is not None:
            await closing()
    if hub(request).closing.is_set():
        return  # the API stops, not the task: the reader reconnects with Last-Event-ID
    task = await tasks_of(request).get(task_id)
    yield ServerSentEvent(event="end", data={"status": task.status, "error": task.error})


@router.post(
    "/sessions/{session_id}/messages",
    tags=["sessions"],
    response_model=SessionReply,
    responses=errors(401, 422, 429, 503),
)
async def send(request: Request, session_id: str, body: SendMessage) -> Any:
    """Send a message to the session (started on first use) and wait for the agent's reply.
    The same ``message_id`` sent again returns the first reply; nothing runs twice."""
    return await tasks_of(request).send(
        session_id, body.agent, body.text, message_id=body.message_id
    )


@router.get(
    "/sessions/{session_id}",
    tags=["sessions"],
    response_model=SessionHistory,
    responses=errors(401, 404, 422),
)
async def session_history(request: Request, session_id: str) -> SessionHistory:
    """What was said in the session, oldest first."""
    turns = await tasks_of(request).history(session_id)
    return SessionHistory(session_id=session_id, turns=turns)


class ForkTask(BaseModel):
    """Body of ``POST /tasks/{task_id}/fork``."""

    at: Annotated[int, Field(ge=1, le=1_000_000)]
    """Replay the original's steps 1..``at`` (no tool runs again), then run live."""
    instructions: Annotated[str, Field(max_length=MAX_GOAL)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    agent: AgentName | None = None
    member: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """Fork this member of a team task (its role, or ``merge``)."""
    task_id: TaskId | None = None
    """Your id for the fork: sent again, it returns the fork already started."""
    redo_undone: bool = False
    """The original undid calls of the replayed steps (it failed): make that step's calls
    again, live (else the fork is refused: 422 ``ForkRefused``)."""


@router.get(
    "/tasks/{task_id}/cassette",
    tags=["tasks"],
    response_model=Cassette,
    responses=errors(401, 404, 422, 503),
)
async def export_task(
    request: Request,
    task_id: str,
    member: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> Cassette:
    """The task's cassette: goal, agent, every model response, tool call and result,
    approvals, undos and usage (a team's with its members; ``?member=ROLE`` for one)."""
    return await tasks_of(request).export(task_id, member=member)


@router.post(
    "/tasks/{task_id}/fork",
    tags=["tasks"],
    status_code=201,
    response_model=TaskSummary,
    responses={
        200: {"description": "the fork this task_id started already"},
        **errors(401, 404, 409, 422, 503),
    },
)
async def fork_task(
    request: Request, task_id: str, body: ForkTask, response: Response
) -> TaskSummary:
    """Start a new task from this one's first ``at`` steps, replayed (recorded model
    responses and tool results; no tool runs again; undos of their compensated calls
    carried), then live with ``instructions``, ``model`` or ``agent`` changed. 422
    ``ForkRefused`` names why it cannot start there (out of range, the answer, a tool the
    agent lost)."""
    started = await tasks_of(request).fork(
        task_id, at=body.at, member=body.member, agent=body.agent,
        instructions=body.instructions, model=body.model, task_id=body.task_id,
        requested_by=principal(request).identity, redo_undone=body.redo_undone,
    )  # fmt: skip
    if not started.created:
        response.status_code = 200
    response.headers["Location"] = f"/tasks/{started.task.task_id}"
    return started.task


@router.get(
    "/sessions/{session_id}/cassette",
    tags=["sessions"],
    response_model=Cassette,
    responses=errors(401, 404, 422, 503),
)
async def export_session(request: Request, session_id: str) -> Cassette:
    """The session's turns as one cassette (each turn an agent task in ``members``)."""
    return await tasks_of(request).export_session(session_id)
