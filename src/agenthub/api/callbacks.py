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

from agenthub.api._shared import error_response, errors, hub, read_body
from agenthub.errors import CallbackBodyTooLarge, CallbackError, InvalidCallbackData
from agenthub.patterns.callbacks import (
    CallbackCompletion,
    deliver_completion,
    revoke_callback_token,
    token_id,
    verify_token,
)

router = APIRouter(tags=["callbacks"])

_COMPLETE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "accepted (the same completion sent again answers 200 again)"},
    **errors(401, 404, 409, 410, 413, 422, 429, 503),
}


async def _read_json(request: Request) -> Any:
    raw = await read_body(request, CallbackBodyTooLarge)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise InvalidCallbackData(f"the body must be JSON: {reason}") from None


TOKEN_HEADER = "X-Callback-Token"
"""Header that may carry the token instead of the path (keeps it out of access logs)."""


async def _deliver(request: Request, token: str, data: Any | None, *, read_body: bool) -> Any:
    state = hub(request)
    try:
        claims = verify_token(token, state.secrets)
        if read_body:
            data = await _read_json(request)
        completion = CallbackCompletion(claims.callback_id, claims.name, data, token_id(token))
        await state.gate.call(
            claims.workflow_id,
            lambda: deliver_completion(
                state.client, claims.workflow_id, completion, run_id=claims.run_id
            ),
        )
    except CallbackError as err:
        return error_response(err.status, type(err).__name__, str(err))
    return JSONResponse(
        {"status": "accepted", "workflow_id": claims.workflow_id, "callback": claims.name}
    )


@router.post("/callbacks/{token}", responses=_COMPLETE_RESPONSES)
async def complete(token: str, request: Request) -> Any:
    """Deliver the JSON body to the workflow waiting on ``token``."""
    return await _deliver(request, token, None, read_body=True)


@router.post("/callbacks", responses=_COMPLETE_RESPONSES)
async def complete_without_path_token(request: Request) -> Any:
    """Deliver a completion whose token is not in the path: in the ``X-Callback-Token``
    header (the body is the data), or in the body as ``{"token": ..., "data": ...}``."""
    header = request.headers.get(TOKEN_HEADER)
    if header is not None:
        return await _deliver(request, header, None, read_body=True)
    try:
        envelope = await _read_json(request)
    except CallbackError as err:
        return error_response(err.status, type(err).__name__, str(err))
    if not isinstance(envelope, dict) or not isinstance(envelope.get("token"), str):
        return error_response(
            401, "InvalidCallbackToken",
            f"send the token in the {TOKEN_HEADER} header, in the path "
            '(/callbacks/<token>) or as {"token": "<token>", "data": ...}',
        )  # fmt: skip
    return await _deliver(request, envelope["token"], envelope.get("data"), read_body=False)


@router.delete(
    "/callbacks",
    responses={200: {"description": "revoked"}, **errors(401, 404, 409, 410, 429, 503)},
)
async def revoke(request: Request) -> Any:
    """Revoke the token in the ``X-Callback-Token`` header: the workflow refuses it from
    now on and its callback stays pending for another token."""
    state = hub(request)
    token = request.headers.get(TOKEN_HEADER, "")
    try:
        workflow_id = verify_token(token, state.secrets).workflow_id
        claims = await state.gate.call(
            workflow_id, lambda: revoke_callback_token(state.client, token, secrets=state.secrets)
        )
    except CallbackError as err:
        return error_response(err.status, type(err).__name__, str(err))
    return JSONResponse(
        {"status": "revoked", "workflow_id": claims.workflow_id, "callback": claims.name}
    )
