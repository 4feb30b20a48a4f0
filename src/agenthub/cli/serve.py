"""``agenthub server``, ``worker``, ``api`` and ``up``: thin shells over
:mod:`agenthub.service`."""

from __future__ import annotations

import asyncio
from typing import Annotated

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
)
from agenthub.service import run_hub, serve_api_replica, serve_worker, start_server, until

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


def register(app: typer.Typer) -> None:
    """Add ``server``, ``worker`` and ``up`` to ``app``."""
    app.command()(server)
    app.command()(worker)
    app.command()(api)
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
        with console.status("starting the Temporal server ..."):
            srv = await start_server(settings, console.print)
        try:
            if srv.reused:
                return
            console.print("press Ctrl-C to stop")
            await until(stop, srv.wait())
        finally:
            await srv.stop()
            console.print("server stopped")

    run(main)


def worker(
    task_queue: TaskQueueOption = None, app: AppOption = None, config: ConfigOption = None
) -> None:
    """Run a worker against the configured Temporal (TEMPORAL_ADDRESS / temporal.toml).

    Without --app it runs agenthub's own workflows on its own task queue; with --app it also
    runs your workflows and activities (give --task-queue the queue your code starts them on).
    """
    settings = settings_from(task_queue=task_queue, config=config)
    apps = [*settings.app_specs, *(app or [])]
    run(lambda stop: serve_worker(settings, stop, apps, report=console.print))


def api(ip: IpOption = None, api_port: ApiPortOption = None, config: ConfigOption = None) -> None:
    """Run the HTTP API alone against the configured Temporal (one of many replicas).

    No worker and no server: workers run elsewhere (agenthub worker). On a cluster, every
    replica needs the same AGENTHUB_CALLBACK_SECRET, AGENTHUB_LEDGER and payload store.
    """
    settings = settings_from(server_ip=ip, api_port=api_port, config=config)
    run(lambda stop: serve_api_replica(settings, stop, report=console.print))


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
    run(lambda stop: run_hub(settings, stop, apps, report=console.print))
