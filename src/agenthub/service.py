"""The hub's assembly as a library: the embedded server, a worker running agenthub's
workflows, your apps and the agents file, the HTTP API, and the payload sweeps, started
together and stopped in order. ``agenthub up``, ``worker`` and ``server`` are thin shells
over these functions; a program can call them the same way.

What the assembly has to say (addresses, warnings) goes to ``report``, one line at a time
(rich markup allowed); the CLI prints it, a program may log it.

Example::

    stop = asyncio.Event()            # set it (e.g. on SIGTERM) to stop everything in order
    await run_hub(Settings.from_env(), stop, apps=["myapp.workflows"], report=print)
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.client import Client

from agenthub.agents.schedules import sync_schedules
from agenthub.agents.webhooks import WebhookSpec
from agenthub.errors import ConfigurationError
from agenthub.runtime.connect import connect, load_connect_config, web_ui_base
from agenthub.runtime.gc import collect_payload_garbage, describe_gc
from agenthub.runtime.health import check_worker
from agenthub.runtime.server import EmbeddedServer, ensure_port_free
from agenthub.runtime.settings import Settings
from agenthub.runtime.telemetry import LOG_FORMAT, install_task_ids, metrics_runtime
from agenthub.runtime.worker import build_worker, load_apps

if TYPE_CHECKING:
    from agenthub.agents.config import HubConfig

__all__ = [
    "Report",
    "check_api_exposure",
    "check_api_replica",
    "load_agents_file",
    "run_hub",
    "serve_api",
    "serve_api_replica",
    "serve_worker",
    "start_server",
    "until",
]

Report = Callable[[str], object]
"""Where the assembly's lines go (``print``, ``console.print``, a logger's ``info``)."""


async def until(
    stop: asyncio.Event, *others: Awaitable[Any], graceful: Sequence[Awaitable[Any]] = ()
) -> None:
    """Wait for the stop event or for any of ``others`` / ``graceful`` to finish (re-raising
    its error). Then ``others`` are cancelled, while ``graceful`` ones, which watch ``stop``
    themselves, are given the chance to finish in order (``stop`` is set for them)."""
    polite = [asyncio.ensure_future(g) for g in graceful]
    waiters = [asyncio.ensure_future(stop.wait()), *map(asyncio.ensure_future, others)]
    done, pending = await asyncio.wait([*waiters, *polite], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    if polite:
        await asyncio.wait(polite, timeout=30)
    for task in [*pending, *polite]:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for task in done:
        task.result()


def load_agents_file(settings: Settings) -> HubConfig | None:
    """The agents file of ``settings`` (``--config`` or ``agenthub.toml``), checked, or
    ``None`` when there is none.

    Raises:
        ConfigurationError: every problem of the file, by key.
    """
    from agenthub.agents.config import find_hub_config, load_hub_config

    path = find_hub_config(settings)
    return load_hub_config(path, settings) if path is not None else None


def check_api_exposure(settings: Settings) -> None:
    """The approval routes decide things: never open beyond this machine without a key.

    Raises:
        ConfigurationError: a non-loopback address with no API key and no token.
    """
    if settings.api_key or settings.api_tokens().has_tokens():
        return
    try:
        loopback = ipaddress.ip_address(settings.server_ip).is_loopback
    except ValueError:
        loopback = settings.server_ip == "localhost"
    if not loopback:
        raise ConfigurationError(
            f"refusing to serve the HTTP API on {settings.server_ip} without authentication: "
            "create a token (agenthub token create --identity NAME), set AGENTHUB_API_KEY, "
            "or bind to 127.0.0.1 (--ip)"
        )


def report_console(settings: Settings, report: Report = print) -> None:
    """Say where the console is: the first address ``up`` and ``api`` print (people open
    it; programs read the HTTP API's line)."""
    url = f"http://{settings.server_ip}:{settings.effective_api_port}/"
    report(f"[green]console[/] {url} [dim](sign in with an API token)[/]")


async def start_server(settings: Settings, report: Report = print) -> EmbeddedServer:
    """Start the embedded server (or reuse the one on its port) and report where it is."""
    server = EmbeddedServer(settings)
    await server.start()
    if server.reused:
        report(f"[yellow]reusing[/] the Temporal server already on {server.address}")
    else:
        report(f"[green]Temporal server[/] {server.address}  (data: {server.db_path})")
        if server.ui_url:
            report(f"[green]web UI[/] {server.ui_url}")
    return server


async def _sweep_periodically(client: Client, settings: Settings, report: Report) -> None:
    """``agenthub gc`` every ``payload_gc_interval`` seconds; a failed sweep is reported
    and the next one tried, never a reason to stop serving."""
    while True:
        await asyncio.sleep(settings.payload_gc_interval)
        try:
            swept = await collect_payload_garbage(
                client,
                settings.data_dir / "payloads",
                grace=timedelta(seconds=settings.payload_gc_grace),
            )
        except Exception as err:  # reported; the hub keeps serving
            report(f"[yellow]warning:[/] payload sweep failed: {err}")
            continue
        if swept.deleted:
            report(f"payload sweep: {describe_gc(swept)}")


async def serve_api(
    client: Client,
    settings: Settings,
    stop: asyncio.Event,
    hub: HubConfig | None = None,
    *,
    hooks: Sequence[WebhookSpec] = (),
) -> None:
    """Serve the HTTP API until ``stop`` is set, then shut it down in order.

    The agents and teams a task may name are ``hub``'s (an API replica with no worker), or
    else those this process runs; the webhooks are ``hub``'s, or else ``hooks``.
    """
    import uvicorn

    from agenthub.api import create_app

    names: dict[str, Any] = {}
    if hub is not None:
        agents = [a.name for a in hub.agents]
        teams = [t.name for t in hub.teams]
        names = {"agents": lambda: agents, "teams": lambda: teams}
        hooks = hub.webhooks
    app = create_app(
        client,
        **names,
        hooks=hooks,
        deployment=settings.deployment_name if settings.build_id else "",
        secrets=settings.callback_secrets(),
        task_queue=settings.task_queue,
        api_key=settings.api_key,
        max_body=settings.api_max_body,
        tokens=settings.api_tokens(),
        ui_url=web_ui_base(settings),
    )
    config = uvicorn.Config(
        app, host=settings.server_ip, port=settings.effective_api_port, log_level="warning",
        timeout_graceful_shutdown=10,
    )  # fmt: skip

    class ApiServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the caller owns SIGINT/SIGTERM and stops everything in order

    server = ApiServer(config)
    serving = asyncio.ensure_future(server.serve())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
    app.state.hub.closing.set()  # open event streams end; their readers reconnect later
    server.should_exit = True
    stopping.cancel()
    await serving


async def serve_worker(
    settings: Settings,
    stop: asyncio.Event,
    apps: Sequence[str] = (),
    *extra: Awaitable[Any],
    api: bool = False,
    report: Report = print,
) -> None:
    """Run a worker (agenthub's workflows, ``apps`` and the agents file) until ``stop`` is
    set or one of ``extra`` ends; with ``api``, the HTTP API and the payload sweeps too."""
    install_task_ids()
    logging.basicConfig(format=LOG_FORMAT, level=settings.log_level.upper())
    found = load_apps(list(apps))
    hub = load_agents_file(settings)
    if hub is not None:
        found.plugins.append(hub.plugin(settings))
    settings.check_shared_state(load_connect_config(settings)["target_host"])
    runtime = metrics_runtime(settings)
    client = await connect(settings, **({"runtime": runtime} if runtime else {}))
    if runtime is not None:
        report(f"[green]metrics[/] http://{settings.server_ip}:{settings.metrics_port}/metrics")
    worker = build_worker(
        client, settings, workflows=found.workflows, activities=found.activities,
        plugins=found.plugins,
    )  # fmt: skip
    async with worker:
        result = await check_worker(client, settings.task_queue)
        if hub is not None:
            for line in await sync_schedules(
                client, hub.schedules, task_queue=settings.task_queue,
                teams=[t.name for t in hub.teams],
            ):  # fmt: skip
                report(line)
        graceful = []
        if api:
            hooks = hub.webhooks if hub is not None else ()
            graceful.append(serve_api(client, settings, stop, hooks=hooks))
            if settings.payload_gc_interval:
                extra = (*extra, _sweep_periodically(client, settings, report))
            report(f"[green]HTTP API[/] http://{settings.server_ip}:{settings.effective_api_port}")
        served = [*apps, *([str(hub.path)] if hub is not None else [])]
        user = f" and {', '.join(served)}" if served else " (agenthub's own workflows only)"
        report(
            f"[green]worker[/] polling task queue {settings.task_queue!r}{user} on "
            f"{client.service_client.config.target_host} (round trip "
            f"{result.round_trip_ms:.0f} ms); press Ctrl-C to stop"
        )
        await until(stop, *extra, graceful=graceful)


def check_api_replica(settings: Settings, address: str) -> None:
    """The API role's own checks on many machines: the shared state of every role, and API
    tokens, which must live where every replica sees them (the ledger's PostgreSQL).

    Raises:
        ConfigurationError: one line naming what to set.
    """
    settings.check_shared_state(address, api=True)


async def serve_api_replica(
    settings: Settings, stop: asyncio.Event, report: Report = print
) -> None:
    """``agenthub api``: the HTTP API alone (no worker, no server), one of any number of
    replicas behind a load balancer, until ``stop`` is set.

    Raises:
        ConfigurationError: state a replica would keep on its own machine, or an exposed API
            without credentials.
    """
    check_api_exposure(settings)
    address = load_connect_config(settings)["target_host"]
    check_api_replica(settings, address)
    ensure_port_free(
        settings.server_ip, settings.effective_api_port, "HTTP API",
        "AGENTHUB_API_PORT (or --api-port)",
    )  # fmt: skip
    hub = load_agents_file(settings)  # the agent names a task may name
    client = await connect(settings)
    report_console(settings, report)
    report(
        f"[green]HTTP API[/] http://{settings.server_ip}:{settings.effective_api_port} "
        f"(Temporal {address}); press Ctrl-C to stop"
    )
    await until(stop, graceful=[serve_api(client, settings, stop, hub)])


async def run_hub(
    settings: Settings, stop: asyncio.Event, apps: Sequence[str] = (), report: Report = print
) -> None:
    """``agenthub up``: the embedded server, a worker and the HTTP API until ``stop`` is set.

    Every port, app and the agents file are checked before anything starts or any address
    is reported.

    Raises:
        ConfigurationError: an exposed API without credentials, a bad app or agents file.
        PortInUseError: the API port (or the server's) is taken by something else.
    """
    check_api_exposure(settings)
    ensure_port_free(
        settings.server_ip, settings.effective_api_port, "HTTP API",
        "AGENTHUB_API_PORT (or --api-port)",
    )  # fmt: skip
    load_apps(list(apps))
    load_agents_file(settings)  # a mistake in it is reported before anything starts
    if not settings.api_key and not settings.api_tokens().has_tokens():
        report(
            "[yellow]warning:[/] no API token and no AGENTHUB_API_KEY: anyone on this "
            "machine can decide approvals through the HTTP API (agenthub token create)"
        )
    report_console(settings, report)
    server = await start_server(settings, report)
    try:
        extra = [] if server.reused else [server.wait()]
        await serve_worker(settings, stop, apps, *extra, api=True, report=report)
    finally:
        await server.stop()
        report("stopped")
