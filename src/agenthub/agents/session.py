"""``AgentSession``: one entity workflow per conversation with an agent.

User messages arrive as entity updates with a message id (a message sent twice is answered
once); each runs an :class:`~agenthub.agents.AgentTask` child with the conversation so far,
and its new messages join the session's history, which the entity carries across
continue-as-new. When the history passes the agent's :class:`SessionBudget`, older
messages are dropped (``truncate``) or replaced by a summary the agent writes
(``summarize``).

Example::

    reply = await send_message(client, "trip", "chat-42", "Two nights in Lisbon?",
                               message_id="m-1", task_queue="agenthub")
    turns = await session_transcript(client, "chat-42", task_queue="agenthub")
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from pydantic import TypeAdapter
from temporalio import workflow
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.workflow_streams import (
    WorkflowStream,
    WorkflowStreamClient,
    WorkflowStreamState,
)
from temporalio.exceptions import ApplicationError, ChildWorkflowError

from agenthub.agents.registry import agent_entry
from agenthub.agents.spec import SessionBudget
from agenthub.agents.task import INTERRUPT_SIGNAL, AgentTask, AgentTaskRequest, AgentUsage
from agenthub.errors import InvalidInput, SessionBusy
from agenthub.patterns.entity import (
    Entity,
    EntityClient,
    EntityStart,
    current_message_id,
    entity_update,
)

__all__ = [
    "AgentSession",
    "SessionBudget",
    "SessionEvent",
    "SessionEventItem",
    "SessionMessage",
    "SessionReply",
    "SessionState",
    "SessionTurn",
    "send_message",
    "session_events",
    "session_transcript",
]


@dataclass
class SessionState:
    agent: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    turns: list[SessionTurn] = field(default_factory=list)
    """What was said (user and agent), shortened; the newest 500."""
    task_count: int = 0
    dropped: int = 0
    """Messages cut from the history by the budget."""
    summaries: int = 0
    stream: WorkflowStreamState | None = None
    """The event stream, carried across continue-as-new."""


@dataclass
class SessionEvent:
    """What happened in a session, as live readers see it (:func:`session_events`)."""

    kind: Literal["user", "agent", "compacted"]
    text: str
    task_id: str = ""
    at: float = 0.0


@dataclass
class SessionTurn:
    role: Literal["user", "agent"]
    text: str


@dataclass
class SessionMessage:
    agent: str
    text: str


@dataclass
class SessionReply:
    output: Any
    turn: int
    usage: AgentUsage
    history_messages: int
    """Messages in the session's history after this turn (after any compaction)."""
    outcome: Literal["answered", "interrupted", "rolled_back"] = "answered"
    """``interrupted`` or ``rolled_back``: a newer message stopped this turn (the agent's
    ``double_texting``); ``output`` is then ``None``."""


@dataclass
class _Turn:
    """The message being answered, and what a newer message asked of it."""

    message_id: str | None
    handle: Any = None
    stop: Literal["", "interrupt", "rollback"] = ""


_TURNS_KEPT = 500
SESSION_TOPIC = "session"


def _is_user_request(message: dict[str, Any]) -> bool:
    return message.get("kind") == "request" and any(
        part.get("part_kind") == "user-prompt" for part in message.get("parts", [])
    )


def _text_of(messages: list[dict[str, Any]]) -> str:
    lines = []
    for message in messages:
        for part in message.get("parts", []):
            kind, content = part.get("part_kind"), part.get("content")
            if kind == "user-prompt":
                lines.append(f"user: {content}")
            elif kind == "text":
                lines.append(f"agent: {content}")
    return "\n".join(lines)


@workflow.defn(name="agenthub.AgentSession")
class AgentSession(Entity[SessionState]):
    """See the module docstring."""

    state_type = SessionState

    @workflow.init
    def __init__(self, start: EntityStart) -> None:
        prior = start.state.get("stream") if isinstance(start.state, dict) else None
        adapter: TypeAdapter[WorkflowStreamState | None] = TypeAdapter(WorkflowStreamState | None)
        self.events = WorkflowStream(prior_state=adapter.validate_python(prior))
        self._event_topic = self.events.topic(SESSION_TOPIC, type=SessionEvent)
        self._turn: _Turn | None = None
        self._waiting: list[str | None] = []
        """Messages accepted and not yet answered (the one in flight included)."""

    async def entity_message_waiting(
        self, handler: str, message_id: str | None, *args: Any
    ) -> None:
        """A newer message stops the turn in flight when its agent says so."""
        if handler != "send":
            return
        self._waiting.append(message_id)
        turn = self._turn
        if turn is None or turn.stop or turn.message_id == message_id:
            return
        entry = agent_entry(args[0].agent) if args else None
        policy = entry[1].double_texting if entry is not None else "enqueue"
        if policy == "interrupt":
            turn.stop = "interrupt"
            if turn.handle is not None:
                await turn.handle.signal(INTERRUPT_SIGNAL)
        elif policy == "rollback":
            turn.stop = "rollback"
            if turn.handle is not None:
                turn.handle.cancel()  # the child undoes its compensated calls, newest first

    def before_continue_as_new(self) -> None:
        # Readers follow the stream into the next run, from where they were.
        self.events.detach_pollers()
        self.state.stream = self.events.get_state()

    @workflow.run
    async def run(self, start: EntityStart) -> SessionState:
        return await self.run_entity(start)

    @entity_update
    async def send(self, message: SessionMessage) -> SessionReply:
        """Answer a user message with the conversation so far."""
        try:
            return await self._answer(message)
        finally:
            # Answered, stopped or refused: it no longer waits (double_texting = "reject").
            with contextlib.suppress(ValueError):
                self._waiting.remove(current_message_id())

    async def _answer(self, message: SessionMessage) -> SessionReply:
        entry = agent_entry(message.agent)
        if entry is None:
            raise InvalidInput(f"no agent {message.agent!r} on this worker")
        if self.state.agent and self.state.agent != message.agent:
            raise InvalidInput(
                f"session {self.entity_id!r} talks to {self.state.agent!r}, not {message.agent!r}"
            )
        if not message.text.strip():
            raise InvalidInput("a message needs text")
        self.state.agent = message.agent
        self._note("user", message.text)
        turn = self._turn = _Turn(current_message_id())
        try:
            result = await self._task(message.agent, message.text, self.state.history, turn)
        except (asyncio.CancelledError, ChildWorkflowError) as err:
            if turn.stop != "rollback":
                self._note("agent", f"(failed: {err})")
                raise
            # Undone by the child (its compensated calls, newest first) and left out of the
            # history: the model never sees this turn again.
            self._note("agent", "(rolled back by a newer message: its tool calls were undone)")
            return SessionReply(
                None, len(self.state.turns) // 2, AgentUsage(), len(self.state.history),
                "rolled_back",
            )  # fmt: skip
        except Exception as err:
            # The turn stays paired in the transcript; the history is unchanged.
            self._note("agent", f"(failed: {err})")
            raise
        finally:
            self._turn = None
        if result.interrupted:
            # The partial turn stays, marked, for the model and for readers.
            done = "; ".join(f"{e.kind}: {e.text}" for e in result.transcript if e.kind != "goal")
            marked = f"(interrupted by a newer message; done so far: {done or 'nothing'})"
            self.state.history += [_user_message(message.text), _agent_message(marked)]
            self._note("agent", marked)
            return SessionReply(
                None, len(self.state.turns) // 2, result.usage, len(self.state.history),
                "interrupted",
            )  # fmt: skip
        self.state.history += result.messages
        self._note("agent", str(result.output))
        budget: SessionBudget = entry[1].session_budget
        if len(self.state.history) > budget.max_messages:
            await self._compact(budget)
        return SessionReply(
            result.output, len(self.state.turns) // 2, result.usage, len(self.state.history)
        )

    @send.validator
    def _busy(self, message: SessionMessage) -> None:
        # double_texting = "reject": a message while another is accepted is refused (a
        # resend of that very message is not: it is answered once, as ever).
        entry = agent_entry(message.agent)
        if entry is None or entry[1].double_texting != "reject":
            return
        mine = current_message_id()
        if any(m != mine for m in self._waiting) and mine not in self._entity_recent:
            raise ApplicationError(
                f"session {self.entity_id!r} still answers an earlier message; send this one "
                'once the reply came (its agent says double_texting = "reject")',
                type="SessionBusy",
                non_retryable=True,
            )

    async def _task(
        self, agent: str, goal: str, history: list[dict[str, Any]], turn: _Turn | None = None
    ) -> Any:
        self.state.task_count += 1
        handle = await workflow.start_child_workflow(
            AgentTask.run,
            AgentTaskRequest(agent, goal, history=history or None),
            id=f"{workflow.info().workflow_id}/task-{self.state.task_count}",
        )
        if turn is not None:
            turn.handle = handle
            if turn.stop == "interrupt":  # asked while the child was starting
                await handle.signal(INTERRUPT_SIGNAL)
            elif turn.stop == "rollback":
                handle.cancel()
        return await handle

    async def _compact(self, budget: SessionBudget) -> None:
        history = self.state.history
        cut = len(history) - budget.keep
        while cut < len(history) and not _is_user_request(history[cut]):
            cut += 1  # never start at a tool result without its call
        if cut >= len(history):
            return
        older, kept = history[:cut], history[cut:]
        self.state.dropped += len(older)
        self._event_topic.publish(
            SessionEvent("compacted", f"{len(older)} older messages {budget.policy}d")
        )
        if budget.policy == "summarize":
            summarizer = budget.summarizer or self.state.agent
            summary = await self._task(
                summarizer,
                "Summarise this conversation in a few sentences, keeping every fact a later "
                "answer may need:\n\n" + _text_of(older),
                [],
            )
            self.state.summaries += 1
            kept = [_user_message(f"Summary of the earlier conversation: {summary.output}"), *kept]
        self.state.history = kept

    def _note(self, role: Literal["user", "agent"], text: str) -> None:
        short = text if len(text) <= 2000 else text[:1999] + "…"
        self.state.turns.append(SessionTurn(role, short))
        del self.state.turns[:-_TURNS_KEPT]
        task_id = f"{workflow.info().workflow_id}/task-{self.state.task_count}"
        at = workflow.now().timestamp()
        self._event_topic.publish(SessionEvent(role, short, task_id if role == "agent" else "", at))

    @workflow.query
    def transcript(self) -> list[SessionTurn]:
        """What was said, oldest first (the newest 500 turns)."""
        return list(self.state.turns)


def _agent_message(text: str) -> dict[str, Any]:
    from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelResponse, TextPart

    response = ModelResponse(parts=[TextPart(content=text)], timestamp=workflow.now())
    dumped: list[dict[str, Any]] = ModelMessagesTypeAdapter.dump_python([response], mode="json")
    return dumped[0]


def _user_message(text: str) -> dict[str, Any]:
    from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelRequest, UserPromptPart

    request = ModelRequest(parts=[UserPromptPart(content=text, timestamp=workflow.now())])
    dumped: list[dict[str, Any]] = ModelMessagesTypeAdapter.dump_python([request], mode="json")
    return dumped[0]


async def send_message(
    client: Client,
    agent: str,
    session_id: str,
    text: str,
    *,
    task_queue: str,
    message_id: str | None = None,
) -> SessionReply:
    """Send a user message to the session (started if new) and wait for the reply.

    The same ``message_id`` sent again returns the first reply (nothing runs twice).

    Raises:
        SessionBusy: the session still answers an earlier message and the agent says
            ``double_texting = "reject"``.
    """
    sessions = EntityClient(client, AgentSession, task_queue=task_queue)
    try:
        reply: SessionReply = await sessions.update(
            session_id, AgentSession.send, SessionMessage(agent, text), message_id=message_id
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == "SessionBusy":
            raise SessionBusy(cause.message) from None
        raise
    return reply


async def session_events(
    client: Client, session_id: str, *, task_queue: str, from_offset: int = 0
) -> AsyncIterator[SessionEventItem]:
    """The session's events from ``from_offset`` on, live and in order, across its
    continue-as-new runs (a reconnecting reader gets no duplicates and no gaps).

    The iterator does not end while the session lives; stop reading when you are done.
    """
    sessions = EntityClient(client, AgentSession, task_queue=task_queue)
    stream = WorkflowStreamClient.create(client, sessions.workflow_id(session_id))
    async for item in stream.subscribe(
        SESSION_TOPIC, from_offset, result_type=SessionEvent,
        poll_cooldown=timedelta(milliseconds=50),
    ):  # fmt: skip
        yield SessionEventItem(item.offset, item.data)


@dataclass
class SessionEventItem:
    """A session event with its offset (resume from ``offset + 1``)."""

    offset: int
    event: SessionEvent


async def session_transcript(
    client: Client, session_id: str, *, task_queue: str
) -> list[SessionTurn]:
    """What was said in the session, oldest first."""
    sessions = EntityClient(client, AgentSession, task_queue=task_queue)
    turns: list[SessionTurn] = await sessions.query(session_id, AgentSession.transcript)
    return turns
