"""A chat session: one entity workflow per conversation, so the agent remembers what was
said, across worker restarts and continue-as-new. A message resent with the same id is
answered once.

Runs offline: the model is a scripted stand-in that says what it remembers.

    python examples/agents/chat_session.py
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agenthub.agents import AgentSpec, AgentsPlugin, send_message, session_transcript

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_common.py
from _common import embedded_worker

TASK_QUEUE = "example-chat-session"


def remembers(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """A stand-in model: answers with everything the user has said so far."""
    said = [
        str(p.content) for m in messages for p in getattr(m, "parts", [])
        if isinstance(p, UserPromptPart)
    ]  # fmt: skip
    return ModelResponse(parts=[TextPart(f"I remember {len(said)}: {' / '.join(said)}")])


CONCIERGE = AgentSpec(name="concierge", model=FunctionModel(remembers))


async def main() -> None:
    async with embedded_worker(TASK_QUEUE, [], [], plugins=[AgentsPlugin(CONCIERGE)]) as (
        client,
        queue,
    ):
        chat = f"chat-{uuid.uuid4().hex[:8]}"
        for n, text in enumerate(["I land on Friday", "I like museums", "Plan Saturday"], 1):
            reply = await send_message(
                client, "concierge", chat, text, message_id=f"m-{n}", task_queue=queue
            )
            print(f"turn {reply.turn}: {reply.output}")
        again = await send_message(
            client, "concierge", chat, "I like museums", message_id="m-2", task_queue=queue
        )
        print(f"resent m-2, answered once: turn {again.turn}: {again.output}")
        turns = await session_transcript(client, chat, task_queue=queue)
        print(f"transcript: {len(turns)} turns, {sum(t.role == 'user' for t in turns)} from you")


if __name__ == "__main__":
    asyncio.run(main())
