"""FastAPI application: one router per concern (callbacks, approvals, health).

Bad input never yields a 500: refused callbacks answer 401/404/409/410 and a body that is
not JSON answers 422, each as ``{"error": <type>, "message": <what to fix>}``.

Example::

    app = create_app(client, secrets=settings.callback_secrets())
    uvicorn.run(app, port=8080)
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

from agenthub._version import __version__
from agenthub.api import approvals, callbacks, health
from agenthub.api._shared import HubState, error_response
from agenthub.errors import InvalidInput, WorkerUnavailable
from agenthub.runtime.tokens import ApiTokenStore

__all__ = ["create_app"]


def create_app(
    client: Client,
    *,
    secrets: Sequence[str],
    task_queue: str = "agenthub",
    api_key: str = "",
    max_body: int = 1024 * 1024,
    tokens: ApiTokenStore | None = None,
) -> FastAPI:
    """The API, talking to Temporal through ``client``; ``secrets`` verify callback tokens;
    ``api_key`` (a shared service key) and ``tokens`` (API tokens, each acting as its
    identity) guard the approval endpoints once either is set; ``task_queue`` is the
    default queue whose approval inbox is listed; ``max_body`` caps the bytes read of a
    body."""
    app = FastAPI(title="agenthub", version=__version__)
    app.state.hub = HubState(client, list(secrets), task_queue, api_key, max_body, tokens)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return error_response(422, "InvalidInput", problems or "the request is malformed")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Routing and protocol errors (404, 405, ...) in the one JSON shape too.
        name = "".join(w.capitalize() for w in HTTPStatus(exc.status_code).phrase.split())
        return error_response(exc.status_code, name, str(exc.detail))

    @app.exception_handler(WorkerUnavailable)
    async def unavailable(request: Request, exc: WorkerUnavailable) -> JSONResponse:
        return error_response(exc.status, "WorkerUnavailable", str(exc))

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
        return error_response(422, "InvalidInput", exc.message)

    for module in (callbacks, approvals, health):
        app.include_router(module.router)
    return app
