"""FastAPI application: callback completion (and, later, tasks, sessions and approvals).

Bad input never yields a 500: refused callbacks answer 401/404/409/410 and a body that is
not JSON answers 422, each as ``{"error": <type>, "message": <what to fix>}``.

Example::

    app = create_app(client, secrets=load_callback_secrets(settings.data_dir))
    uvicorn.run(app, port=8080)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client

from agenthub._version import __version__
from agenthub.errors import CallbackError
from agenthub.patterns.callbacks import complete_callback

__all__ = ["create_app"]


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "message": message})


def create_app(client: Client, *, secrets: Sequence[str]) -> FastAPI:
    """The API, talking to Temporal through ``client``; ``secrets`` verify callback tokens."""
    app = FastAPI(title="agenthub", version=__version__)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.post("/callbacks/{token}")
    async def complete(token: str, request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            data = json.loads(raw) if raw.strip() else None
        except ValueError as err:
            return _error(422, "InvalidCallbackData", f"the body must be JSON: {err}")
        try:
            claims = await complete_callback(client, token, data, secrets=secrets)
        except CallbackError as err:
            return _error(err.status, type(err).__name__, str(err))
        return JSONResponse(
            {"status": "accepted", "workflow_id": claims.workflow_id, "callback": claims.name}
        )

    return app
