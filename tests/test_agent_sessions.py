"""Agent sessions on the real dev server: one entity per conversation, history kept across
continue-as-new, resent messages answered once, budgets that truncate or summarise."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from agenthub.agents import (
    SessionEvent,
    send_message,
    session_events,
    session_transcript,
)
from agenthub.patterns.entity import EntityClient
from agenthub.runtime import Settings
from agenthub.testing import running_worker

from .agent_apps import CHATTER, FORGETFUL, SUMMARIZING, agents_client
from .session_workflows import ShortSession


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sessions(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Client, str]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("sessions"), payload_offload="false")
    client = await agents_client(dev_server_env, settings, CHATTER, FORGETFUL, SUMMARIZING)
    async with running_worker(client, workflows=[ShortSession]) as tq:
        yield client, tq


async def test_fifty_messages_across_continue_as_new_keep_the_history(sessions) -> None:
    client, tq = sessions
    short = EntityClient(client, ShortSession, task_queue=tq)
    chat = f"chat-{uuid.uuid4().hex[:8]}"
    from agenthub.agents.session import SessionMessage

    replies = []
    for n in range(1, 51):
        reply = await short.update(
            chat, ShortSession.send, SessionMessage("chatter", f"message {n}"), message_id=f"m-{n}"
        )
        replies.append(reply)
    assert replies[-1].output == "heard 50, first: message 1"
    assert [r.turn for r in replies] == list(range(1, 51))
    again = await short.update(
        chat, ShortSession.send, SessionMessage("chatter", "message 10"), message_id="m-10"
    )
    assert again.output == "heard 10, first: message 1" and again.turn == 10, "answered once"
    runs = 0
    async for _ in client.list_workflows(f"WorkflowId = '{short.workflow_id(chat)}'"):
        runs += 1
    assert runs > 3, "the session continued as new several times"
    turns = await short.query(chat, ShortSession.transcript)
    assert len(turns) == 100 and turns[0].text == "message 1"


async def test_a_session_over_budget_truncates(sessions) -> None:
    client, tq = sessions
    chat = f"forget-{uuid.uuid4().hex[:8]}"
    for n in range(1, 7):
        reply = await send_message(client, "forgetful", chat, f"note {n}", task_queue=tq)
        assert reply.history_messages <= 6
    # Only the newest messages are left: the model no longer sees the first ones.
    assert reply.output.startswith("heard ") and "first: note 1" not in reply.output
    turns = await session_transcript(client, chat, task_queue=tq)
    assert [t.text for t in turns if t.role == "user"] == [f"note {n}" for n in range(1, 7)]
    kinds = []
    async for item in session_events(client, chat, task_queue=tq):
        kinds.append(item.event.kind)
        if len(kinds) == 12 + kinds.count("compacted") and kinds[-1] == "agent":
            break
    assert kinds.count("user") == 6 and kinds.count("compacted") >= 1


async def test_a_session_over_budget_summarises(sessions) -> None:
    client, tq = sessions
    chat = f"summary-{uuid.uuid4().hex[:8]}"
    for n in range(1, 6):
        reply = await send_message(client, "summarizing", chat, f"fact {n}", task_queue=tq)
    assert "first: Summary of the earlier conversation: " in reply.output
    assert reply.history_messages <= 6


async def test_a_session_refuses_another_agent_and_empty_messages(sessions) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    client, tq = sessions
    chat = f"strict-{uuid.uuid4().hex[:8]}"
    await send_message(client, "chatter", chat, "hello", task_queue=tq)
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await send_message(client, "forgetful", chat, "hello", task_queue=tq)
    assert "talks to 'chatter'" in str(info.value.cause)
    with pytest.raises(WorkflowUpdateFailedError):
        await send_message(client, "chatter", chat, "   ", task_queue=tq)


async def test_session_events_follow_continue_as_new_without_gaps(sessions) -> None:
    from temporalio.contrib.workflow_streams import WorkflowStreamClient

    from agenthub.agents import SessionEventItem
    from agenthub.agents.session import SessionMessage
    from agenthub.patterns.entity import EntityClient

    client, tq = sessions
    short = EntityClient(client, ShortSession, task_queue=tq)
    chat = f"events-{uuid.uuid4().hex[:8]}"
    for n in range(1, 21):
        await short.update(chat, ShortSession.send, SessionMessage("chatter", f"m{n}"))
    runs = [r async for r in client.list_workflows(f"WorkflowId = '{short.workflow_id(chat)}'")]
    assert len(runs) > 1, "the session continued as new"

    async def read(from_offset: int, count: int) -> list[SessionEventItem]:
        stream = WorkflowStreamClient.create(client, short.workflow_id(chat))
        items: list[SessionEventItem] = []
        async for item in stream.subscribe("session", from_offset, result_type=SessionEvent):
            items.append(SessionEventItem(item.offset, item.data))
            if len(items) == count:
                break
        return items

    everything = await read(0, 40)
    assert [i.offset for i in everything] == list(range(40))
    assert [i.event.text for i in everything[::2]] == [f"m{n}" for n in range(1, 21)]
    assert all(i.event.kind == "agent" for i in everything[1::2])
    first, rest = await read(0, 15), await read(15, 25)
    assert [i.event for i in first + rest] == [i.event for i in everything]
