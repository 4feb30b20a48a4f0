"""Route of async callbacks: complete one with its token and a JSON body.

The token is checked before the body is read, and the body is read only up to
``max_body`` bytes (``AGENTHUB_API_MAX_BODY``), so a forged token costs nothing and a huge
body cannot use up memory.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from agenthub.api._shared import error_response, hub
from agenthub.errors import CallbackBodyTooLarge, CallbackError, InvalidCallbackData
from agenthub.patterns.callbacks import CallbackCompletion, deliver_completion, verify_token

router = APIRouter(tags=["callbacks"])


async def _read_json(request: Request, limit: int) -> Any:
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise CallbackBodyTooLarge(
                f"the body passes the limit of {limit} bytes (AGENTHUB_API_MAX_BODY)"
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise InvalidCallbackData(f"the body must be JSON: {reason}") from None


@router.post("/callbacks/{token}")
async def complete(token: str, request: Request) -> JSONResponse:
    """Deliver the JSON body to the workflow waiting on ``token``."""
    state = hub(request)
    try:
        claims = verify_token(token, state.secrets)
        data = await _read_json(request, state.max_body)
        completion = CallbackCompletion(claims.callback_id, claims.name, data)
        await deliver_completion(state.client, claims.workflow_id, completion)
    except CallbackError as err:
        return error_response(err.status, type(err).__name__, str(err))
    return JSONResponse(
        {"status": "accepted", "workflow_id": claims.workflow_id, "callback": claims.name}
    )
