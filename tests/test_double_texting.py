"""Double-texting: a second message while the session still answers the first, under each
policy an agent may choose (enqueue, reject, interrupt, rollback), on the real dev server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from agenthub.agents import AgentSpec, send_message, session_transcript, tool
from agenthub.errors import SessionBusy
from agenthub.runtime import Settings
from agenthub.testing import running_worker

from .agent_apps import agents_client
from .procs import read_lines, worker_process

BOOKED: list[str] = []
UNBOOKED: list[str] = []
HELD = asyncio.Event()
RELEASE = asyncio.Event()


async def unbook(item: str) -> None:
    UNBOOKED.append(item)


@tool(side_effect=True, compensate=unbook)
async def book(item: str) -> str:
    """Book an item (undone by unbook)."""
    BOOKED.append(item)
    return f"booked {item}"


async def hold() -> str:
    """Take long: the test says when it is done."""
    HELD.set()
    await RELEASE.wait()
    return "held"


def _script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    # The newest user message decides; "slow ..." books, then holds (until released).
    prompts = [
        (i, str(p.content)) for i, m in enumerate(messages) for p in getattr(m, "parts", [])
        if isinstance(p, UserPromptPart)
    ]  # fmt: skip
    last, prompt = prompts[-1]
    returns = sum(
        isinstance(p, ToolReturnPart) for m in messages[last:] for p in getattr(m, "parts", [])
    )
    if prompt.startswith("slow") and returns == 0:
        return ModelResponse(parts=[ToolCallPart("book", {"item": prompt})])
    if prompt.startswith("slow") and returns == 1:
        return ModelResponse(parts=[ToolCallPart("hold")])
    seen = "; ".join(text for _, text in prompts[:-1])
    return ModelResponse(parts=[TextPart(f"answered {prompt} (before: {seen or 'nothing'})")])


POLICIES = ("enqueue", "reject", "interrupt", "rollback")
SPECS = [
    AgentSpec(
        name=f"dt-{policy}",
        model=FunctionModel(_script),
        tools=[book, hold],
        double_texting=policy,
    )
    for policy in POLICIES
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chats(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Client, str]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("double"), payload_offload="false")
    client = await agents_client(dev_server_env, settings, *SPECS)
    async with running_worker(client) as tq:
        yield client, tq
    RELEASE.set()


async def _first_holding(client: Client, tq: str, agent: str, chat: str) -> asyncio.Task[Any]:
    HELD.clear()
    RELEASE.clear()
    first = asyncio.ensure_future(
        send_message(client, agent, chat, f"slow {chat}", task_queue=tq, message_id="m1")
    )
    await asyncio.wait_for(HELD.wait(), 30)  # the first turn is in flight, at its tool
    return first


async def test_enqueue_answers_both_in_order(chats: tuple[Client, str]) -> None:
    client, tq = chats
    chat = f"enq-{uuid.uuid4().hex[:6]}"
    first = await _first_holding(client, tq, "dt-enqueue", chat)
    second = asyncio.ensure_future(
        send_message(client, "dt-enqueue", chat, "then this", task_queue=tq, message_id="m2")
    )
    await asyncio.sleep(0.05)  # sent 50 ms apart, as people do; the second must still wait
    assert not second.done()
    RELEASE.set()
    one, two = await first, await second
    assert one.outcome == two.outcome == "answered"
    assert one.output == f"answered slow {chat} (before: nothing)"
    assert two.output == f"answered then this (before: slow {chat})"
    turns = await session_transcript(client, chat, task_queue=tq)
    assert [t.role for t in turns] == ["user", "agent", "user", "agent"]


async def test_reject_refuses_the_second_message_until_the_first_is_answered(
    chats: tuple[Client, str],
) -> None:
    client, tq = chats
    chat = f"rej-{uuid.uuid4().hex[:6]}"
    first = await _first_holding(client, tq, "dt-reject", chat)
    with pytest.raises(SessionBusy, match="still answers an earlier message"):
        await send_message(client, "dt-reject", chat, "then this", task_queue=tq, message_id="m2")
    # The same first message sent again is not refused: it is answered once.
    again = asyncio.ensure_future(
        send_message(client, "dt-reject", chat, f"slow {chat}", task_queue=tq, message_id="m1")
    )
    RELEASE.set()
    assert (await first).output == (await again).output
    later = await send_message(client, "dt-reject", chat, "now", task_queue=tq, message_id="m3")
    assert later.output == f"answered now (before: slow {chat})"
    turns = await session_transcript(client, chat, task_queue=tq)
    assert [t.text for t in turns if t.role == "user"] == [f"slow {chat}", "now"]


async def test_interrupt_answers_the_second_with_the_first_partial_turn_marked(
    chats: tuple[Client, str],
) -> None:
    client, tq = chats
    chat = f"int-{uuid.uuid4().hex[:6]}"
    first = await _first_holding(client, tq, "dt-interrupt", chat)
    two = await send_message(
        client, "dt-interrupt", chat, "then this", task_queue=tq, message_id="m2"
    )
    one = await first
    assert one.outcome == "interrupted" and one.output is None
    assert two.outcome == "answered"
    assert two.output == f"answered then this (before: slow {chat})"  # the partial turn kept
    assert BOOKED.count(f"slow {chat}") == 1 and f"slow {chat}" not in UNBOOKED  # not undone
    turns = await session_transcript(client, chat, task_queue=tq)
    assert turns[1].text.startswith("(interrupted by a newer message; done so far:")
    assert "book" in turns[1].text
    RELEASE.set()


async def test_rollback_undoes_the_first_turn_once_and_drops_it(
    chats: tuple[Client, str],
) -> None:
    client, tq = chats
    chat = f"rb-{uuid.uuid4().hex[:6]}"
    first = await _first_holding(client, tq, "dt-rollback", chat)
    two = await send_message(client, "dt-rollback", chat, "then this", task_queue=tq,
                             message_id="m2")  # fmt: skip
    one = await first
    assert one.outcome == "rolled_back" and one.output is None
    assert two.output == "answered then this (before: nothing)"  # dropped from the history
    assert BOOKED.count(f"slow {chat}") == 1
    assert UNBOOKED.count(f"slow {chat}") == 1  # undone exactly once
    turns = await session_transcript(client, chat, task_queue=tq)
    assert "rolled back" in turns[1].text
    # Resent, the rolled-back message is answered as it was, and nothing runs again.
    again = await send_message(client, "dt-rollback", chat, f"slow {chat}", task_queue=tq,
                               message_id="m1")  # fmt: skip
    assert again.outcome == "rolled_back" and BOOKED.count(f"slow {chat}") == 1
    RELEASE.set()


@pytest.mark.slow
@pytest.mark.parametrize("policy", POLICIES)
async def test_a_worker_killed_between_the_two_messages_changes_nothing(
    dev_server_env: WorkflowEnvironment, tmp_path: Path, policy: str
) -> None:
    client = dev_server_env.client
    address = client.service_client.config.target_host
    queue = f"dt-crash-{uuid.uuid4().hex[:8]}"
    agent, chat = f"dtk-{policy}", f"k-{uuid.uuid4().hex[:6]}"
    args = (address, queue, str(tmp_path))

    def send(text: str, message_id: str) -> asyncio.Task[Any]:
        return asyncio.ensure_future(
            send_message(client, agent, chat, text, task_queue=queue, message_id=message_id)
        )

    async with worker_process("tests.double_texting_worker", *args, "hold") as first:
        await read_lines(first, "READY", 1)
        one = send(f"slow {chat}", "m1")
        await read_lines(first, "HELD", 1)
        first.kill()  # SIGKILL, with the first turn at its tool
        await first.wait()
    two = send("then this", "m2")
    async with worker_process("tests.double_texting_worker", *args) as second:
        await read_lines(second, "READY", 1)
        replies = await asyncio.wait_for(asyncio.gather(one, two, return_exceptions=True), 90)
    effects = (tmp_path / "effects").read_text().splitlines()
    assert effects.count(f"booked slow {chat}") == 1, effects  # never twice
    first_reply, second_reply = replies
    assert not isinstance(first_reply, BaseException), first_reply
    if policy == "reject":
        assert isinstance(second_reply, SessionBusy), second_reply
        assert first_reply.outcome == "answered"
        return
    assert not isinstance(second_reply, BaseException), second_reply
    outcome = {"enqueue": "answered", "interrupt": "interrupted", "rollback": "rolled_back"}
    assert [first_reply.outcome, second_reply.outcome] == [outcome[policy], "answered"]
    before = "nothing" if policy == "rollback" else f"slow {chat}"
    assert second_reply.output == f"answered then this (before: {before})"
    undone = effects.count(f"unbooked slow {chat}")
    assert undone == (1 if policy == "rollback" else 0), effects
