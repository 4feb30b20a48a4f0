"""FastAPI application: one router per concern (callbacks, approvals, health).

Bad input never yields a 500: refused requests answer 401/404/409/410/422, each as
``{"error": <type>, "message": <what to fix>}``. Routes: ``/tasks`` (start, list, read,
events as SSE, cancel), ``/sessions``, ``/agents``, ``/approvals``, ``/callbacks``,
``/health``; the OpenAPI docs at ``/docs``.

Example::

    app = create_app(client, secrets=settings.callback_secrets())
    uvicorn.run(app, port=8080)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from agenthub._version import __version__
from agenthub.agents.registry import agent_specs, team_specs
from agenthub.agents.shared_events import SharedEvents
from agenthub.agents.webhooks import WebhookSpec
from agenthub.api import approvals, callbacks, health, tasks, triggers
from agenthub.api._shared import HubState, error_response
from agenthub.errors import HubError, InvalidInput, WorkerUnavailable, WorkflowBusy
from agenthub.runtime.tokens import TokenStore

__all__ = ["create_app"]


def _serve_docs_offline(app: FastAPI) -> None:
    """``/docs`` from Swagger UI's files shipped in a package: the page works offline."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount(
        "/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), "docs-assets"
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="agenthub API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _serve_console(app: FastAPI) -> None:
    """The console's pages and assets, and its security headers on each of its responses."""
    from fastapi.staticfiles import StaticFiles

    from agenthub.api import console

    app.include_router(console.router)
    app.add_exception_handler(console.SignInNeeded, console.sign_in_needed)
    app.mount("/console/static", StaticFiles(directory=console.STATIC_DIR), "console-static")

    app.add_middleware(_ConsoleHeaders)


class _ConsoleHeaders:
    """The console's security headers on each of its responses (plain ASGI: streams pass
    through untouched, unlike a ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from agenthub.api import console

        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/" or path.startswith("/console/")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in console.SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    client: Client,
    *,
    secrets: Sequence[str],
    task_queue: str = "agenthub",
    api_key: str = "",
    max_body: int = 1024 * 1024,
    tokens: TokenStore | None = None,
    agents: Callable[[], Collection[str]] | None = lambda: agent_specs().keys(),
    ui_url: str = "",
    teams: Callable[[], Collection[str]] = lambda: team_specs().keys(),
    hooks: Sequence[WebhookSpec] = (),
    deployment: str = "",
) -> FastAPI:
    """The API, talking to Temporal through ``client``; ``secrets`` verify callback tokens;
    ``api_key`` (a shared service key) and ``tokens`` (API tokens, each acting as its
    identity) guard the approval endpoints once either is set; ``task_queue`` is the
    default queue whose approval inbox is listed; ``max_body`` caps the bytes read of a
    body; ``agents`` and ``teams`` list the names a task may name (default: those of
    this process's ``AgentsPlugin``); ``ui_url`` is the Temporal web UI, for links;
    ``hooks`` are the signed webhooks served at ``POST /hooks/{name}``; ``deployment``
    names the Worker Deployment new tasks are pinned in (versioned workers)."""
    app = FastAPI(title="agenthub", version=__version__, docs_url=None, redoc_url=None)
    _serve_docs_offline(app)
    app.state.hub = HubState(
        client, list(secrets), task_queue, api_key, max_body, tokens, agents, ui_url,
        SharedEvents(client), teams, deployment=deployment, hooks={h.name: h for h in hooks},
    )  # fmt: skip

    _serve_console(app)

    def answer(
        request: Request, status: int, error: str, message: str,
        headers: dict[str, str] | None = None, **extra: object,
    ) -> Response:  # fmt: skip
        # The console's pages get an error page; the API its one JSON shape.
        from agenthub.api import console

        if console.wants_console_page(request):
            page = console.error_page(request, status, error, message)
            page.headers.update(headers or {})
            return page
        return error_response(status, error, message, headers=headers, **extra)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return answer(request, 422, "InvalidInput", problems or "the request is malformed")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Routing and protocol errors (404, 405, ...) in the one JSON shape too.
        name = "".join(w.capitalize() for w in HTTPStatus(exc.status_code).phrase.split())
        return answer(request, exc.status_code, name, str(exc.detail))

    @app.exception_handler(WorkerUnavailable)
    async def unavailable(request: Request, exc: WorkerUnavailable) -> Response:
        return answer(request, exc.status, "WorkerUnavailable", str(exc))

    @app.exception_handler(WorkflowBusy)
    async def busy(request: Request, exc: WorkflowBusy) -> Response:
        headers = {"Retry-After": str(exc.retry_after)}
        return answer(request, exc.status, "WorkflowBusy", str(exc), headers=headers)

    @app.exception_handler(RPCError)
    async def server_refused(request: Request, exc: RPCError) -> Response:
        # What the Temporal server says no to is not the API's bug: never a bare 500.
        if exc.status == RPCStatusCode.RESOURCE_EXHAUSTED:
            return answer(
                request,
                429, "WorkflowBusy", f"the Temporal server is busy ({exc.message}); retry",
                headers={"Retry-After": str(WorkflowBusy.retry_after)},
            )  # fmt: skip
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return answer(
                request,
                503, "ServerUnavailable", f"the Temporal server did not answer ({exc.message})",
                headers={"Retry-After": "5"},
            )  # fmt: skip
        raise exc

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, exc: InvalidInput) -> Response:
        return answer(request, 422, "InvalidInput", exc.message)

    @app.exception_handler(HubError)
    async def refused(request: Request, exc: HubError) -> Response:
        return answer(request, exc.status, type(exc).__name__, str(exc))

    for module in (tasks, callbacks, approvals, triggers, health):
        app.include_router(module.router)
    return app
