"""Routes of tasks that start on their own: schedules (inside the caller's tenant) and
signed webhooks (``POST /hooks/{name}``, authenticated by their signature alone).

Expose only ``/hooks/`` to the internet (a reverse proxy that forwards that prefix): every
other route needs a token, and a webhook needs nothing else.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic_core import to_jsonable_python

from agenthub.agents.hub import HubTasks, TaskSummary
from agenthub.agents.schedules import HubSchedules, ScheduleView
from agenthub.api._shared import authenticate, errors, hub, principal, read_body
from agenthub.errors import InvalidInput, WebhookNotFound

router = APIRouter()
schedules = APIRouter(prefix="/schedules", tags=["schedules"], dependencies=[Depends(authenticate)])


def _schedules(request: Request) -> HubSchedules:
    return HubSchedules(hub(request).client, tenant=principal(request).tenant)


@schedules.get("", response_model=list[ScheduleView], responses=errors(401))
async def list_schedules(request: Request) -> Any:
    """The tenant's schedules: when they fire, paused or not, the next fires, the latest
    tasks they started."""
    return to_jsonable_python(await _schedules(request).list())


_ACTION_RESPONSES = errors(401, 404, 422)


@schedules.post("/{name}/trigger", response_model=ScheduleView, responses=_ACTION_RESPONSES)
async def trigger(request: Request, name: str) -> Any:
    """Fire once now (the schedule's overlap policy applies); the task is listed as usual."""
    return to_jsonable_python(await _schedules(request).trigger(name))


@schedules.post("/{name}/pause", response_model=ScheduleView, responses=_ACTION_RESPONSES)
async def pause(request: Request, name: str) -> Any:
    """Stop firing until unpaused (kept across restarts of the hub)."""
    return to_jsonable_python(await _schedules(request).pause(name))


@schedules.post("/{name}/unpause", response_model=ScheduleView, responses=_ACTION_RESPONSES)
async def unpause(request: Request, name: str) -> Any:
    """Fire again on schedule."""
    return to_jsonable_python(await _schedules(request).unpause(name))


@router.post(
    "/hooks/{name}",
    tags=["webhooks"],
    status_code=201,
    response_model=TaskSummary,
    responses={200: {"description": "this delivery started the task already"},
               **errors(401, 404, 409, 413, 422)},
)  # fmt: skip
async def webhook(request: Request, name: str, response: Response) -> Any:
    """Start the webhook's agent on its goal (rendered from the JSON body): 201, or 200 with
    the same task when the delivery comes again. The signature is checked before the body
    is parsed (401); an unknown hook is 404, a body over the limit 413."""
    state = hub(request)
    spec = state.hooks.get(name)
    if spec is None:
        raise WebhookNotFound(
            f"no webhook {name[:80]!r} on this hub (declare [webhooks.{name[:80]}])"
        )
    body = await read_body(request)
    spec.verify(request.headers, body, now=time.time())
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput("the webhook's body is not JSON") from None
    tasks = HubTasks(
        state.client, tenant=spec.tenant, task_queue=state.task_queue,
        agents=state.agents() if state.agents is not None else None,
        teams=state.teams() if state.teams is not None else (), ui_url=state.ui_url,
        deployment=state.deployment,
    )  # fmt: skip
    started = await tasks.start(
        spec.agent, spec.render(data), task_id=spec.task_id(request.headers, body),
        requested_by=f"webhook:{name}",
    )  # fmt: skip
    if not started.created:
        response.status_code = 200
    return to_jsonable_python(started.task)


router.include_router(schedules)
