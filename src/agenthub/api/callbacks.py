"""Route of async callbacks: complete one with its token and a JSON body."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from agenthub.api._shared import error_response, hub
from agenthub.errors import CallbackError
from agenthub.patterns.callbacks import complete_callback

router = APIRouter(tags=["callbacks"])


@router.post("/callbacks/{token}")
async def complete(token: str, request: Request) -> JSONResponse:
    """Deliver the JSON body to the workflow waiting on ``token``."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError as err:
        return error_response(422, "InvalidCallbackData", f"the body must be JSON: {err}")
    state = hub(request)
    try:
        claims = await complete_callback(state.client, token, data, secrets=state.secrets)
    except CallbackError as err:
        return error_response(err.status, type(err).__name__, str(err))
    return JSONResponse(
        {"status": "accepted", "workflow_id": claims.workflow_id, "callback": claims.name}
    )
