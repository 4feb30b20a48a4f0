"""FastAPI application: callback completion and human approvals.

Bad input never yields a 500: refused callbacks answer 401/404/409/410 and a body that is
not JSON answers 422, each as ``{"error": <type>, "message": <what to fix>}``.

Example::

    app = create_app(client, secrets=settings.callback_secrets())
    uvicorn.run(app, port=8080)
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from temporalio.client import Client

from agenthub._version import __version__
from agenthub.errors import CallbackError, InvalidInput, WorkerUnavailable
from agenthub.patterns.approvals import decide, list_pending
from agenthub.patterns.callbacks import complete_callback

__all__ = ["create_app"]


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "message": message})


class Decision(BaseModel):
    """Body of an approval decision."""

    by: str
    reason: str = ""


def create_app(
    client: Client,
    *,
    secrets: Sequence[str],
    task_queue: str = "agenthub",
    api_key: str = "",
) -> FastAPI:
    """The API, talking to Temporal through ``client``; ``secrets`` verify callback tokens;
    ``api_key`` (when set) guards the approval endpoints."""
    app = FastAPI(title="agenthub", version=__version__)

    def authorized(request: Request) -> JSONResponse | None:
        if api_key and not hmac.compare_digest(
            request.headers.get("authorization", ""), f"Bearer {api_key}"
        ):
            return _error(401, "Unauthorized", "send Authorization: Bearer <AGENTHUB_API_KEY>")
        return None

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "InvalidInput", str(exc.errors()))

    @app.exception_handler(WorkerUnavailable)
    async def unavailable(request: Request, exc: WorkerUnavailable) -> JSONResponse:
        return _error(exc.status, "WorkerUnavailable", str(exc))

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
        return _error(422, "InvalidInput", exc.message)

    def _queue(request: Request) -> str:
        # Approvals live in an inbox per task queue: that of the workflows that asked.
        return request.query_params.get("task_queue", task_queue)

    @app.get("/approvals")
    async def approvals(request: Request, inbox: str = "default") -> Any:
        if denied := authorized(request):
            return denied
        pending = await list_pending(client, task_queue=_queue(request), inbox=inbox)
        return [to_jsonable_python(p) for p in pending]

    async def _decide(request: Request, approval_id: str, body: Decision, approved: bool) -> Any:
        if denied := authorized(request):
            return denied
        inbox = request.query_params.get("inbox", "default")
        queue = _queue(request)
        pending = await list_pending(client, task_queue=queue, inbox=inbox)
        match = next((p for p in pending if p.approval_id == approval_id), None)
        if match is None:
            return _error(
                404, "CallbackNotFound",
                f"no pending approval {approval_id!r} in inbox {inbox!r} of task queue "
                f"{queue!r}",
            )  # fmt: skip
        try:
            decision = await decide(
                client, match, approved=approved, by=body.by, reason=body.reason
            )
        except InvalidInput as err:
            return _error(403, "NotAnApprover", err.message)
        except CallbackError as err:
            return _error(err.status, type(err).__name__, str(err))
        return to_jsonable_python(decision)

    @app.post("/approvals/{approval_id}/approve")
    async def approve(request: Request, approval_id: str, body: Decision) -> Any:
        return await _decide(request, approval_id, body, True)

    @app.post("/approvals/{approval_id}/reject")
    async def reject(request: Request, approval_id: str, body: Decision) -> Any:
        return await _decide(request, approval_id, body, False)

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
