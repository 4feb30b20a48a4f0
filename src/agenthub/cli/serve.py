"""``agenthub server``, ``worker`` and ``up``: the embedded server, a worker, the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agenthub.cli._common import (
    ApiPortOption,
    DataDirOption,
    HeadlessOption,
    IpOption,
    PortOption,
    TaskQueueOption,
    UiPortOption,
    console,
    run,
    settings_from,
    until,
)
from agenthub.errors import ConfigurationError

if TYPE_CHECKING:
    from agenthub.agents.config import HubConfig
from agenthub.runtime.config import Settings, connect, web_ui_base
from agenthub.runtime.health import check_worker
from agenthub.runtime.server import EmbeddedServer, ensure_port_free
from agenthub.runtime.worker import build_worker, load_apps

ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="The agents file [AGENTHUB_CONFIG; default: agenthub.toml beside the data dir].",
    ),
]
AppOption = Annotated[
    list[str] | None,
    typer.Option(
        "--app",
        help="User code to run too: pkg.module or pkg.module:attr (repeatable) [AGENTHUB_APPS].",
    ),
]


async def _start_server(settings: Settings) -> EmbeddedServer:
    server = EmbeddedServer(settings)
    with console.status(f"starting the Temporal server on {server.address} ..."):
        await server.start()
    if server.reused:
        console.print(f"[yellow]reusing[/] the Temporal server already on {server.address}")
    else:
        console.print(f"[green]Temporal server[/] {server.address}  (data: {server.db_path})")
        if server.ui_url:
            console.print(f"[green]web UI[/] {server.ui_url}")
    return server


def register(app: typer.Typer) -> None:
    """Add ``server``, ``worker`` and ``up`` to ``app``."""
    app.command()(server)
    app.command()(worker)
    app.command()(up)


def server(
    data_dir: DataDirOption = None,
    port: PortOption = None,
    ui_port: UiPortOption = None,
    ip: IpOption = None,
    headless: HeadlessOption = False,
) -> None:
    """Run the embedded Temporal server (SQLite file, web UI) until Ctrl-C."""
    settings = settings_from(
        data_dir=data_dir, server_port=port, ui_port=ui_port, server_ip=ip,
        ui=False if headless else None,
    )  # fmt: skip

    async def main(stop: asyncio.Event) -> None:
        srv = await _start_server(settings)
        try:
            if srv.reused:
                return
            console.print("press Ctrl-C to stop")
            await until(stop, srv.wait())
        finally:
            await srv.stop()
            console.print("server stopped")

    run(main)


async def _serve_worker(
    settings: Settings,
    stop: asyncio.Event,
    apps: list[str],
    *extra: Awaitable[Any],
    api: bool = False,
) -> None:
    from agenthub.runtime.telemetry import LOG_FORMAT, install_task_ids, metrics_runtime

    install_task_ids()
    logging.basicConfig(format=LOG_FORMAT, level=settings.log_level.upper())
    found = load_apps(apps)
    hub = load_agents_file(settings)
    if hub is not None:
        found.plugins.append(hub.plugin(settings))
    runtime = metrics_runtime(settings)
    client = await connect(settings, **({"runtime": runtime} if runtime else {}))
    if runtime is not None:
        console.print(
            f"[green]metrics[/] http://{settings.server_ip}:{settings.metrics_port}/metrics"
        )
    worker = build_worker(
        client, settings, workflows=found.workflows, activities=found.activities,
        plugins=found.plugins,
    )  # fmt: skip
    async with worker:
        result = await check_worker(client, settings.task_queue)
        graceful = []
        if api:
            graceful.append(_serve_api(client, settings, stop))
            if settings.payload_gc_interval:
                extra = (*extra, _sweep_periodically(client, settings))
            url = f"http://{settings.server_ip}:{settings.effective_api_port}"
            console.print(f"[green]HTTP API[/] {url}")
        served = [*apps, *([str(hub.path)] if hub is not None else [])]
        user = f" and {', '.join(served)}" if served else " (agenthub's own workflows only)"
        console.print(
            f"[green]worker[/] polling task queue {settings.task_queue!r}{user} on "
            f"{client.service_client.config.target_host} (round trip "
            f"{result.round_trip_ms:.0f} ms); press Ctrl-C to stop"
        )
        await until(stop, *extra, graceful=graceful)


def load_agents_file(settings: Settings) -> HubConfig | None:
    """The agents file of ``settings`` (``--config`` or ``agenthub.toml``), checked, or
    ``None`` when there is none."""
    from agenthub.agents.config import find_hub_config, load_hub_config

    path = find_hub_config(settings)
    return load_hub_config(path, settings) if path is not None else None


async def _sweep_periodically(client: Any, settings: Settings) -> None:
    """``agenthub gc`` every ``payload_gc_interval`` seconds; a failed sweep is reported
    and the next one tried, never a reason to stop serving."""
    from agenthub.cli.maintenance import describe_gc, sweep_payloads

    while True:
        await asyncio.sleep(settings.payload_gc_interval)
        try:
            report = await sweep_payloads(client, settings)
        except Exception as err:  # reported; the hub keeps serving
            console.print(f"[yellow]warning:[/] payload sweep failed: {err}")
            continue
        if report.deleted:
            console.print(f"payload sweep: {describe_gc(report)}")


async def _serve_api(client: Any, settings: Settings, stop: asyncio.Event) -> None:
    """Serve the HTTP API until ``stop`` is set, then shut it down in order."""
    import uvicorn

    from agenthub.api import create_app

    app = create_app(
        client,
        secrets=settings.callback_secrets(),
        task_queue=settings.task_queue,
        api_key=settings.api_key,
        max_body=settings.api_max_body,
        tokens=settings.api_tokens(),
        ui_url=web_ui_base(settings),
    )
    config = uvicorn.Config(
        app, host=settings.server_ip, port=settings.effective_api_port, log_level="warning"
    )

    class ApiServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the CLI owns SIGINT/SIGTERM and stops everything in order

    server = ApiServer(config)
    serving = asyncio.ensure_future(server.serve())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving


def _check_api_exposure(settings: Settings) -> None:
    """The approval routes decide things: never open beyond this machine without a key."""
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


def worker(
    task_queue: TaskQueueOption = None, app: AppOption = None, config: ConfigOption = None
) -> None:
    """Run a worker against the configured Temporal (TEMPORAL_ADDRESS / temporal.toml).

    Without --app it runs agenthub's own workflows on its own task queue; with --app it also
    runs your workflows and activities (give --task-queue the queue your code starts them on).
    """
    settings = settings_from(task_queue=task_queue, config=config)
    apps = [*settings.app_specs, *(app or [])]
    run(lambda stop: _serve_worker(settings, stop, apps))


def up(
    data_dir: DataDirOption = None,
    port: PortOption = None,
    ui_port: UiPortOption = None,
    ip: IpOption = None,
    headless: HeadlessOption = False,
    task_queue: TaskQueueOption = None,
    api_port: ApiPortOption = None,
    app: AppOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the embedded server, a worker and the HTTP API together until Ctrl-C.

    Agents declared in agenthub.toml (or --config) run on its worker and over its API.
    """
    settings = settings_from(
        data_dir=data_dir, server_port=port, ui_port=ui_port, server_ip=ip,
        ui=False if headless else None, task_queue=task_queue, api_port=api_port,
        config=config,
    )  # fmt: skip
    apps = [*settings.app_specs, *(app or [])]

    async def main(stop: asyncio.Event) -> None:
        _check_api_exposure(settings)
        # Every port and every app is checked before any address is printed.
        ensure_port_free(
            settings.server_ip, settings.effective_api_port, "HTTP API",
            "AGENTHUB_API_PORT (or --api-port)",
        )  # fmt: skip
        load_apps(apps)
        load_agents_file(settings)  # a mistake in it is reported before anything starts
        if not settings.api_key and not settings.api_tokens().has_tokens():
            console.print(
                "[yellow]warning:[/] no API token and no AGENTHUB_API_KEY: anyone on this "
                "machine can decide approvals through the HTTP API (agenthub token create)"
            )
        srv = await _start_server(settings)
        try:
            extra = [] if srv.reused else [srv.wait()]
            await _serve_worker(settings, stop, apps, *extra, api=True)
        finally:
            await srv.stop()
            console.print("stopped")

    run(main)
