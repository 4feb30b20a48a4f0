"""What the routers share: the hub's state on the app, the error shape, the API key check."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client


@dataclass(frozen=True)
class HubState:
    """What every route needs, kept on ``app.state.hub`` by :func:`create_app`."""

    client: Client
    secrets: Sequence[str]
    task_queue: str
    api_key: str
    max_body: int = 1024 * 1024
    """Largest request body read, in bytes."""


def hub(request: Request) -> HubState:
    """The hub's state of the app serving ``request``."""
    state: HubState = request.app.state.hub
    return state


def error_response(status: int, error: str, message: str) -> JSONResponse:
    """Every error has this one JSON shape: ``{"error": <type>, "message": <what to fix>}``."""
    return JSONResponse(status_code=status, content={"error": error, "message": message})


async def require_api_key(request: Request) -> None:
    """A dependency: 401 unless the request presents the API key (when one is set).

    As a dependency it runs before the body is read or validated.
    """
    api_key = hub(request).api_key
    # Bytes, not str: compare_digest refuses non-ASCII text, and a header may carry any.
    presented = request.headers.get("authorization", "").encode("utf-8", "surrogateescape")
    if api_key and not hmac.compare_digest(presented, f"Bearer {api_key}".encode()):
        raise HTTPException(401, "send Authorization: Bearer <AGENTHUB_API_KEY>")
