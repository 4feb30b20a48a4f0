"""A local OpenAI-compatible model server for testing agents over real HTTP, offline:
scripted answers (tool calls, then text), injected failures (429 with ``Retry-After``,
5xx bursts, 4xx), and counts of what it was asked (requests, the most in flight at once).

Example::

    async with serving(ModelServer()) as model:
        settings = Settings(openai_base_url=model.url)
        spec = AgentSpec(name="t", model="openai:test", tools=[lookup])
        ...
        assert model.requests == 2
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse

from agenthub.testing import eventually

__all__ = ["ModelServer", "answer", "call_tools", "serving", "tools_then_answer"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answer(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def call_tools(*calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"call_{i}", "type": "function",
             "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)
        ],
    }  # fmt: skip


def tools_then_answer(body: dict[str, Any]) -> dict[str, Any]:
    """Call each offered tool once (no arguments), then answer with what they returned."""
    results = [m["content"] for m in body["messages"] if m.get("role") == "tool"]
    if results or not body.get("tools"):
        return answer("answer: " + " | ".join(map(str, results)))
    return call_tools(*[(t["function"]["name"], {}) for t in body["tools"]])


@dataclass
class ModelServer:
    """What the server answers, and what it saw."""

    reply: Callable[[dict[str, Any]], dict[str, Any]] = tools_then_answer
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    """Status and headers to answer with before answering normally, in order."""
    delay: float = 0.0
    requests: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    times: list[float] = field(default_factory=list)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def complete(request: Request) -> Any:
            body = await request.json()
            self.requests += 1
            self.times.append(time.monotonic())
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                if self.delay:
                    await asyncio.sleep(self.delay)
                if self.failures:
                    status, headers = self.failures.pop(0)
                    error = {"error": {"message": f"injected {status}", "type": "test"}}
                    return JSONResponse(error, status_code=status, headers=headers)
                message = self.reply(body)
            finally:
                self.in_flight -= 1
            finish = "tool_calls" if message.get("tool_calls") else "stop"
            return {
                "id": f"chatcmpl-{self.requests}", "object": "chat.completion", "created": 0,
                "model": body.get("model", "test"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }  # fmt: skip

        @app.get("/page")
        async def page(size: int = 100) -> Any:
            return PlainTextResponse("x" * size)

        @app.get("/redirect")
        async def redirect(to: str) -> Any:
            return RedirectResponse(to, status_code=302)

        return app


@asynccontextmanager
async def serving(model: ModelServer) -> AsyncIterator[ModelServer]:
    """Serve ``model`` on a free loopback port; ``model.url`` is its OpenAI base URL."""
    port = _free_port()
    # No lifespan: the model server has nothing to start or stop, and a forced exit would
    # otherwise log a CancelledError traceback from the lifespan task.
    config = uvicorn.Config(model.app(), port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await eventually(started, what="model server start")
    model.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield model
    finally:
        server.should_exit = True
        server.force_exit = True  # requests left hanging on purpose end with the server
        await task
