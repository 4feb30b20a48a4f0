"""The hub console: web pages for the people who watch tasks, decide approvals and chat.

Served by the HTTP API at ``/`` (pages under ``/console/``), on the same tenants and tokens
as the API's routes. Pages are rendered on the server (Jinja2, autoescaped: model output,
tool arguments and results are shown as text, never as HTML); one small script of ours,
served from the package, follows live updates with the browser's ``EventSource``. No build
step, no CDN: the console works offline.

Security: the API token lives in an ``HttpOnly``, ``SameSite=Strict`` cookie (never in a
URL or in page script); every state-changing request must come from the console's own
origin (the ``Origin`` header, else ``Referer``); pages carry a Content-Security-Policy
that allows no inline script and no framing.

Example::

    app = create_app(client, secrets=[...], tokens=store)   # the console is part of it
    # open http://127.0.0.1:8080/ and paste a token from `agenthub token create`
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from jinja2 import Environment, FileSystemLoader, select_autoescape

from agenthub.agents.hub import HubTasks, TaskSummary, TaskView
from agenthub.agents.task import AgentEventItem
from agenthub.api._shared import Principal, hub, read_body, tasks_of, while_open
from agenthub.api.approvals import Refusal, decide_pending
from agenthub.errors import (
    CrossOriginRefused,
    HubError,
    InvalidInput,
    TaskConflict,
)
from agenthub.patterns.approvals import ApprovalDecision, PendingApproval, list_pending

__all__ = [
    "COOKIE",
    "SECURITY_HEADERS",
    "STATIC_DIR",
    "SignInNeeded",
    "router",
    "sign_in_needed",
    "wants_console_page",
]

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
COOKIE = "agenthub_console"
"""The cookie holding the signed-in API token (``HttpOnly``, ``SameSite=Strict``)."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""Headers of every console response (pages, streams and assets)."""

STATUSES = ("running", "waiting_for_approval", "compensating", "succeeded", "failed", "cancelled")
"""The task filters of the tasks page; the middle two are states of running tasks."""

_TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _age(then: datetime | None, now: datetime) -> str:
    """``3 min ago``: how long ago ``then`` was."""
    if then is None:
        return "not yet"
    return _span((now - then).total_seconds()) + " ago"


def _until(then: datetime, now: datetime) -> str:
    """``in 3 min``: how long until ``then``."""
    seconds = (then - now).total_seconds()
    return "now" if seconds <= 0 else "in " + _span(seconds)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{max(int(seconds), 0)} s"


_TEMPLATES.filters["age"] = _age
_TEMPLATES.filters["until"] = _until

router = APIRouter(include_in_schema=False)


def wants_console_page(request: Request) -> bool:
    """Whether ``request`` is for the console (errors answer as a page, not JSON)."""
    path = request.url.path
    return path == "/" or path.startswith("/console/")


class SignInNeeded(Exception):
    """No valid token in the console's cookie: the person signs in first (the app answers
    with a redirect to the sign-in page, see :func:`sign_in_needed`)."""


async def sign_in_needed(request: Request, exc: Exception) -> Response:
    """The app's handler of :class:`SignInNeeded`: off to the sign-in page, and back."""
    return RedirectResponse(f"/console/sign-in?next={quote(request.url.path)}", status_code=303)


@dataclass(frozen=True)
class Viewer:
    """Who looks at a page: the principal, and how the page should say it."""

    principal: Principal
    open_api: bool

    @property
    def name(self) -> str:
        return self.principal.identity or "anyone on this machine"


def _viewer(request: Request) -> Viewer:
    state = hub(request)
    if not state.api_key and (state.tokens is None or not state.tokens.has_tokens()):
        who = Principal("open")
        request.state.principal = who
        return Viewer(who, open_api=True)
    presented = request.cookies.get(COOKIE, "")
    record = state.tokens.authenticate(presented) if presented and state.tokens else None
    if record is None:
        raise SignInNeeded
    who = Principal("token", record.identity, record.tenant)
    request.state.principal = who
    return Viewer(who, open_api=False)


def _check_origin(request: Request) -> None:
    """A state-changing request must come from a console page of this very origin: the
    cookie is ``SameSite=Strict`` too, so this is the second line against forged posts."""
    expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer", "")
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    if not hmac.compare_digest(origin.encode(), expected.encode()):
        raise CrossOriginRefused(
            "the console takes changes only from its own pages (Origin "
            f"{origin[:80] or 'missing'!r} is not {expected!r})"
        )


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded form of ``request`` (at most the API's body limit), last value wins."""
    body = await read_body(request)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidInput("the form is not UTF-8") from None
    return dict(pairs)


def _page(
    request: Request, template: str, viewer: Viewer | None, code: int = 200, **values: Any
) -> HTMLResponse:
    html = _TEMPLATES.get_template(template).render(
        viewer=viewer, path=request.url.path, now=datetime.now(UTC), **values
    )
    return HTMLResponse(html, status_code=code)


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """An error as a console page (404 for another tenant's task, 403 for a forged post)."""
    try:
        viewer: Viewer | None = _viewer(request)
    except SignInNeeded:
        viewer = None
    return _page(request, "error.html", viewer, status, title=title, message=message, status=status)


def _see_other(path: str, notice: str = "") -> RedirectResponse:
    query = f"?notice={quote(notice)}" if notice else ""
    return RedirectResponse(path + query, status_code=303)


def _notice(request: Request) -> str:
    return request.query_params.get("notice", "")[:300]


def _fresh_id(kind: str) -> str:
    # Drawn into the form when the page is made: a double click or a resent form
    # carries the same id, so it starts one task (or sends one message), never two.
    return f"{kind}-{uuid.uuid4().hex[:12]}"


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/console/tasks", status_code=303)


@router.get("/console/")
async def console_root() -> RedirectResponse:
    return RedirectResponse("/console/tasks", status_code=303)


# -- sign in / out ------------------------------------------------------------------------


def _safe_next(value: str) -> str:
    # Only a console path: never an open redirect to another site.
    if value.startswith("/console/") and not value.startswith("/console//"):
        return value
    return "/console/tasks"


@router.get("/console/sign-in")
async def sign_in_page(request: Request) -> Response:
    try:
        viewer: Viewer | None = _viewer(request)
    except SignInNeeded:
        viewer = None
    return _page(
        request, "sign_in.html", viewer, next=_safe_next(request.query_params.get("next", "")),
        error="",
    )  # fmt: skip


@router.post("/console/sign-in")
async def sign_in(request: Request) -> Response:
    _check_origin(request)
    form = await _form(request)
    token = form.get("token", "").strip()
    target = _safe_next(form.get("next", ""))
    state = hub(request)
    record = state.tokens.authenticate(token) if token and state.tokens else None
    if record is None:
        key = state.api_key.encode()
        is_key = bool(key) and hmac.compare_digest(token.encode("utf-8", "replace"), key)
        error = (
            "that is the service key, for trusted front ends; sign in with your own API "
            "token (agenthub token create --identity <you>)"
            if is_key
            else "that token is not valid (revoked, mistyped, or of another hub)"
        )
        return _page(request, "sign_in.html", None, 401, next=target, error=error)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
        path="/",
    )  # fmt: skip
    return response


@router.post("/console/sign-out")
async def sign_out(request: Request) -> Response:
    _check_origin(request)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


# -- tasks --------------------------------------------------------------------------------


async def _views(tasks: HubTasks, summaries: list[TaskSummary]) -> list[TaskView]:
    """Each task's view (usage and running state), eight at a time; a task that cannot be
    read right now keeps its summary."""
    turns = asyncio.Semaphore(8)

    async def view(summary: TaskSummary) -> TaskView:
        async with turns:
            try:
                return await tasks.get(summary.task_id)
            except Exception:  # a task that just vanished or a busy server: keep the row
                return TaskView(**vars(summary))

    return list(await asyncio.gather(*(view(s) for s in summaries)))


def _choices(request: Request) -> list[str]:
    state = hub(request)
    agents = list(state.agents()) if state.agents is not None else []
    teams = list(state.teams()) if state.teams is not None else []
    return sorted({*agents, *teams})


@router.get("/console/tasks")
async def tasks_page(request: Request) -> Response:
    viewer = _viewer(request)
    wanted = request.query_params.get("status", "")
    if wanted and wanted not in STATUSES:
        return error_page(
            request, 422, "Unknown filter", f"status must be one of {', '.join(STATUSES)}"
        )
    tasks = tasks_of(request)
    listed = "running" if wanted in ("waiting_for_approval", "compensating") else wanted
    summaries = await tasks.list_tasks(limit=50, status=listed or None)
    views = await _views(tasks, summaries)
    if listed != wanted:
        views = [v for v in views if v.status == wanted]
    return _page(
        request, "tasks.html", viewer, tasks=views, status=wanted, statuses=STATUSES,
        choices=_choices(request), task_id=_fresh_id("task"), notice=_notice(request),
        error="", goal="", agent="",
    )  # fmt: skip


@router.post("/console/tasks")
async def start_task(request: Request) -> Response:
    viewer = _viewer(request)
    _check_origin(request)
    form = await _form(request)
    agent, goal = form.get("agent", ""), form.get("goal", "")
    task_id = form.get("task_id") or _fresh_id("task")
    try:
        if not goal.strip():
            raise InvalidInput("write a goal for the agent")
        started = await tasks_of(request).start(
            agent, goal, task_id=task_id, requested_by=viewer.principal.identity
        )
    except (InvalidInput, TaskConflict, HubError) as err:
        if isinstance(err, TaskConflict):
            message = (
                f"this form started task {task_id} already with another goal; the form "
                "now has a new id, send it again to start another task"
            )
            task_id = _fresh_id("task")
        else:
            message = str(err)
        return _page(
            request, "tasks.html", viewer, 422, tasks=[], status="", statuses=STATUSES,
            choices=_choices(request), task_id=task_id, notice="", error=message, goal=goal,
            agent=agent,
        )  # fmt: skip
    return _see_other(f"/console/tasks/{quote(started.task.task_id)}")


_UI_CHECKS: dict[str, tuple[float, bool]] = {}


async def _ui_answers(url: str) -> bool:
    """Whether the Temporal web UI answers (looked at once a minute at most)."""
    if not url:
        return False
    seen = _UI_CHECKS.get(url)
    if seen is not None and time.monotonic() - seen[0] < 60:
        return seen[1]
    try:
        async with httpx.AsyncClient(timeout=0.5) as http:
            answers = (await http.head(url)).status_code < 500
    except httpx.HTTPError:
        answers = False
    _UI_CHECKS[url] = (time.monotonic(), answers)
    return answers


@router.get("/console/tasks/{task_id}")
async def task_page(request: Request, task_id: str) -> Response:
    viewer = _viewer(request)
    view = await tasks_of(request).get(task_id)
    members = [e.text for e in view.transcript if e.kind == "member"]
    return _page(
        request, "task.html", viewer, task=view, members=members,
        web_url=view.web_url if await _ui_answers(hub(request).ui_url) else "",
        notice=_notice(request),
    )  # fmt: skip


@router.get("/console/tasks/{task_id}/summary")
async def task_summary_fragment(request: Request, task_id: str) -> Response:
    """The task's header alone: the page's script swaps it in when the stream ends."""
    viewer = _viewer(request)
    view = await tasks_of(request).get(task_id)
    members = [e.text for e in view.transcript if e.kind == "member"]
    return _page(request, "task_summary.html", viewer, task=view, members=members)


def _stream_viewer(request: Request) -> Viewer:
    # A dependency of the streams: a stream without a valid cookie is a plain 401.
    try:
        return _viewer(request)
    except SignInNeeded:
        raise HTTPException(401, "sign in to the console first") from None


async def _task_source(
    request: Request, task_id: str, viewer: Annotated[Viewer, Depends(_stream_viewer)]
) -> AsyncIterator[AgentEventItem]:
    # A dependency, so another tenant's task is a 404 before the stream starts.
    last = request.headers.get("last-event-id", "").strip()
    start = int(last) + 1 if last.isdigit() else 0
    return await tasks_of(request).events(task_id, from_offset=start)


@router.get("/console/tasks/{task_id}/events", response_class=EventSourceResponse)
async def task_events(
    request: Request,
    task_id: str,
    source: Annotated[AsyncIterator[AgentEventItem], Depends(_task_source)],
) -> AsyncIterator[ServerSentEvent]:
    """The task's events for the page's script (``Last-Event-ID`` resumes after a drop)."""
    try:
        async for item in while_open(request, source):
            event = item.event
            yield ServerSentEvent(
                id=str(item.offset), data={"kind": event.kind, "text": event.text, "at": event.at}
            )
    finally:
        closing = getattr(source, "aclose", None)
        if closing is not None:
            await closing()
    if not hub(request).closing.is_set():  # else the API stops, not the task
        yield ServerSentEvent(event="end", data={"task_id": task_id})


@router.get("/console/tasks/{task_id}/cancel")
async def cancel_page(request: Request, task_id: str) -> Response:
    viewer = _viewer(request)
    summary = await tasks_of(request).summary(task_id)
    return _page(request, "cancel.html", viewer, task=summary)


@router.post("/console/tasks/{task_id}/cancel")
async def cancel_task(request: Request, task_id: str) -> Response:
    _viewer(request)
    _check_origin(request)
    await tasks_of(request).cancel(task_id)
    return _see_other(
        f"/console/tasks/{quote(task_id)}", "cancel asked: its compensated calls are undone"
    )


# -- approvals ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    """A pending approval as the inbox shows it."""

    approval: PendingApproval
    task: TaskSummary | None
    may_decide: bool


async def _inbox(request: Request, viewer: Viewer) -> list[InboxRow]:
    state = hub(request)
    who = viewer.principal
    pending = [
        p
        for p in await list_pending(state.client, task_queue=state.task_queue)
        if who.sees(p.workflow_id)
    ]
    tasks = tasks_of(request)
    prefix = tasks.workflow_id("x").removesuffix("x")

    async def task_of(approval: PendingApproval) -> TaskSummary | None:
        if not approval.workflow_id.startswith(prefix):
            return None
        with contextlib.suppress(Exception):  # a member's or a plain workflow: no task row
            return await tasks.summary(approval.workflow_id.removeprefix(prefix))
        return None

    found = await asyncio.gather(*(task_of(p) for p in pending))
    return [
        InboxRow(p, task, viewer.open_api or who.identity in p.approvers)
        for p, task in zip(pending, found, strict=True)
    ]


@router.get("/console/approvals")
async def approvals_page(request: Request) -> Response:
    viewer = _viewer(request)
    # The one just decided may still be listed for a moment (the inbox updates after the
    # task took the decision): it is not shown again.
    decided = request.query_params.get("decided", "")
    rows = [r for r in await _inbox(request, viewer) if r.approval.approval_id != decided]
    return _page(request, "approvals.html", viewer, rows=rows, notice=_notice(request))


@router.get("/console/approvals/stream", response_class=EventSourceResponse)
async def approvals_stream(
    request: Request, viewer: Annotated[Viewer, Depends(_stream_viewer)]
) -> AsyncIterator[ServerSentEvent]:
    """The ids of the pending approvals the viewer sees, each time they change (a decision
    made elsewhere leaves the page live)."""
    state = hub(request)
    seen: list[str] | None = None
    while not state.closing.is_set() and not await request.is_disconnected():
        pending = await list_pending(state.client, task_queue=state.task_queue)
        ids = sorted(p.approval_id for p in pending if viewer.principal.sees(p.workflow_id))
        if ids != seen:
            seen = ids
            yield ServerSentEvent(event="pending", data={"ids": ids})
        # The inbox's memo, read once a second per open page, until the API stops.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.closing.wait(), timeout=1.0)


@router.post("/console/approvals/{approval_id}/decide")
async def decide(request: Request, approval_id: str) -> Response:
    viewer = _viewer(request)
    _check_origin(request)
    form = await _form(request)
    verdict = form.get("decision", "")
    if verdict not in ("approve", "reject"):
        return error_page(request, 422, "Not a decision", "decide with approve or reject")
    by = viewer.principal.identity if not viewer.open_api else form.get("by", "").strip()
    if not by:
        return error_page(
            request, 422, "Who decides?", "this API has no tokens: write your name as an "
            "approver of this call",
        )  # fmt: skip
    outcome = await decide_pending(
        request, approval_id, by=by, reason=form.get("reason", "")[:2000],
        approved=verdict == "approve",
    )  # fmt: skip
    if isinstance(outcome, Refusal):
        return error_page(request, outcome.status, outcome.error, outcome.message)
    notice = quote(f"{approval_id}: {_said(outcome)}")
    return RedirectResponse(
        f"/console/approvals?decided={quote(approval_id)}&notice={notice}", status_code=303
    )


def _said(decision: ApprovalDecision) -> str:
    verdict = "approved" if decision.approved else "rejected"
    return f"{verdict} by {decision.by}" + (f" ({decision.reason})" if decision.reason else "")


# -- sessions -----------------------------------------------------------------------------


@router.get("/console/sessions")
async def sessions_page(request: Request) -> Response:
    viewer = _viewer(request)
    sessions = await tasks_of(request).list_sessions()
    return _page(
        request, "sessions.html", viewer, sessions=sessions, choices=_choices(request),
        session_id=_fresh_id("chat"),
    )  # fmt: skip


@router.get("/console/sessions/{session_id}")
async def session_page(request: Request, session_id: str) -> Response:
    viewer = _viewer(request)
    tasks = tasks_of(request)
    tasks.session_key(session_id)  # an id no session can have is a 422 page, not a 404
    try:
        turns = await tasks.history(session_id)
    except HubError as err:
        if err.status != 404:
            raise
        turns = []  # a new session: its first message starts it
    return _page(
        request, "session.html", viewer, session_id=session_id, turns=turns,
        choices=_choices(request), agent=request.query_params.get("agent", ""),
        message_id=_fresh_id("msg"), error="",
    )  # fmt: skip


@router.post("/console/sessions/{session_id}/messages")
async def send_message(request: Request, session_id: str) -> Response:
    viewer = _viewer(request)
    _check_origin(request)
    form = await _form(request)
    agent, text = form.get("agent", ""), form.get("text", "")
    tasks = tasks_of(request)
    try:
        if not text.strip():
            raise InvalidInput("write a message")
        await tasks.send(session_id, agent, text, message_id=form.get("message_id") or None)
    except InvalidInput as err:
        turns: list[Any] = []
        with contextlib.suppress(HubError):
            turns = await tasks.history(session_id)
        return _page(
            request, "session.html", viewer, 422, session_id=session_id, turns=turns,
            choices=_choices(request), agent=agent, message_id=_fresh_id("msg"),
            error=err.message,
        )  # fmt: skip
    return _see_other(f"/console/sessions/{quote(session_id)}?agent={quote(agent)}")


def security_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the console's :data:`SECURITY_HEADERS` added."""
    return {**headers, **SECURITY_HEADERS}
