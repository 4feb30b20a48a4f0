"""The ``agenthub`` command line: run the embedded server, a worker, or both."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from temporalio.exceptions import ApplicationError

from agenthub._version import __version__
from agenthub.errors import AgentHubError, ConfigurationError
from agenthub.runtime.config import Settings, connect
from agenthub.runtime.health import check_worker
from agenthub.runtime.server import EmbeddedServer
from agenthub.runtime.worker import build_worker

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(
    name="agenthub",
    help="Durable workflow patterns and an agent hub on Temporal.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the SQLite file and logs live [AGENTHUB_DATA_DIR]."),
]
PortOption = Annotated[
    int | None, typer.Option("--port", help="gRPC frontend port [AGENTHUB_SERVER_PORT, 7233].")
]
UiPortOption = Annotated[
    int | None, typer.Option("--ui-port", help="Web UI port [AGENTHUB_UI_PORT, port + 1000].")
]
IpOption = Annotated[
    str | None, typer.Option("--ip", help="Address to bind [AGENTHUB_SERVER_IP, 127.0.0.1].")
]
HeadlessOption = Annotated[bool, typer.Option("--headless", help="Do not serve the web UI.")]
ApiPortOption = Annotated[
    int | None, typer.Option("--api-port", help="HTTP API port [AGENTHUB_API_PORT, port + 2000].")
]
TaskQueueOption = Annotated[
    str | None, typer.Option("--task-queue", help="Task queue to poll [AGENTHUB_TASK_QUEUE].")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agenthub {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Durable workflow patterns and an agent hub on Temporal."""


def _settings(
    data_dir: Path | None = None,
    port: int | None = None,
    ui_port: int | None = None,
    ip: str | None = None,
    headless: bool = False,
    task_queue: str | None = None,
    api_port: int | None = None,
) -> Settings:
    try:
        return Settings.from_env(
            data_dir=data_dir,
            server_port=port,
            ui_port=ui_port,
            server_ip=ip,
            task_queue=task_queue,
            ui=False if headless else None,
            api_port=api_port,
        )
    except AgentHubError as err:
        _fail(err)


def _fail(err: AgentHubError) -> NoReturn:
    console.print(f"[bold red]error:[/] {err}")
    raise typer.Exit(1) from None


def _run(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run ``main`` with an event set on SIGINT/SIGTERM; agenthub errors exit 1 with a message."""

    async def runner() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Only the main thread may own signals (the CLI can also be driven from a thread).
            with contextlib.suppress(RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        return await main(stop)

    try:
        return asyncio.run(runner())
    except AgentHubError as err:
        _fail(err)


async def _until(stop: asyncio.Event, *others: Awaitable[Any]) -> None:
    """Wait for the stop event or for any of ``others`` to finish (re-raising its error)."""
    waiters = [asyncio.ensure_future(stop.wait()), *map(asyncio.ensure_future, others)]
    done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for task in done:
        task.result()


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


@app.command()
def server(
    data_dir: DataDirOption = None,
    port: PortOption = None,
    ui_port: UiPortOption = None,
    ip: IpOption = None,
    headless: HeadlessOption = False,
) -> None:
    """Run the embedded Temporal server (SQLite file, web UI) until Ctrl-C."""
    settings = _settings(data_dir, port, ui_port, ip, headless)

    async def main(stop: asyncio.Event) -> None:
        srv = await _start_server(settings)
        try:
            if srv.reused:
                return
            console.print("press Ctrl-C to stop")
            await _until(stop, srv.wait())
        finally:
            await srv.stop()
            console.print("server stopped")

    _run(main)


async def _serve_worker(
    settings: Settings, stop: asyncio.Event, *extra: Awaitable[Any], api: bool = False
) -> None:
    client = await connect(settings)
    worker = build_worker(client, settings)
    async with worker:
        result = await check_worker(client, settings.task_queue)
        if api:
            extra = (*extra, _serve_api(client, settings))
            url = f"http://{settings.server_ip}:{settings.effective_api_port}"
            console.print(f"[green]HTTP API[/] {url}")
        console.print(
            f"[green]worker[/] polling task queue {settings.task_queue!r} on "
            f"{client.service_client.config.target_host} (round trip "
            f"{result.round_trip_ms:.0f} ms); press Ctrl-C to stop"
        )
        await _until(stop, *extra)


async def _serve_api(client: Any, settings: Settings) -> None:
    import uvicorn

    from agenthub.api import create_app
    from agenthub.patterns.callbacks import load_callback_secrets

    app = create_app(
        client,
        secrets=load_callback_secrets(settings.data_dir),
        task_queue=settings.task_queue,
        api_key=settings.api_key,
    )
    config = uvicorn.Config(
        app, host=settings.server_ip, port=settings.effective_api_port, log_level="warning"
    )

    class ApiServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the CLI owns SIGINT/SIGTERM and stops everything in order

    await ApiServer(config).serve()


@app.command()
def worker(task_queue: TaskQueueOption = None) -> None:
    """Run a worker against the configured Temporal (TEMPORAL_ADDRESS / temporal.toml)."""
    settings = _settings(task_queue=task_queue)
    _run(lambda stop: _serve_worker(settings, stop))


@app.command()
def up(
    data_dir: DataDirOption = None,
    port: PortOption = None,
    ui_port: UiPortOption = None,
    ip: IpOption = None,
    headless: HeadlessOption = False,
    task_queue: TaskQueueOption = None,
    api_port: ApiPortOption = None,
) -> None:
    """Run the embedded server, a worker and the HTTP API together until Ctrl-C."""
    settings = _settings(data_dir, port, ui_port, ip, headless, task_queue, api_port)

    async def main(stop: asyncio.Event) -> None:
        srv = await _start_server(settings)
        try:
            extra = [] if srv.reused else [srv.wait()]
            await _serve_worker(settings, stop, *extra, api=True)
        finally:
            await srv.stop()
            console.print("stopped")

    _run(main)


callback_app = typer.Typer(help="Complete async callbacks.", no_args_is_help=True)
app.add_typer(callback_app, name="callback")


@callback_app.command("complete")
def callback_complete(
    token: Annotated[str, typer.Argument(help="The callback token.")],
    data: Annotated[str, typer.Option("--data", help="JSON to deliver.")] = "null",
) -> None:
    """Deliver JSON data to the workflow waiting on TOKEN."""
    from agenthub.patterns.callbacks import complete_callback, load_callback_secrets

    try:
        value = json.loads(data)
    except ValueError as err:
        console.print(f"[bold red]error:[/] --data must be JSON: {err}")
        raise typer.Exit(2) from None
    settings = _settings()

    async def main(stop: asyncio.Event) -> Any:
        client = await connect(settings)
        secrets = load_callback_secrets(settings.data_dir)
        return await complete_callback(client, token, value, secrets=secrets)

    claims = _run(main)  # a refusal (CallbackError) exits 1 with its message
    console.print(f"[green]delivered[/] to {claims.workflow_id} ({claims.name})")


approvals_app = typer.Typer(help="List and decide human approvals.", no_args_is_help=True)
app.add_typer(approvals_app, name="approvals")


@approvals_app.command("list")
def approvals_list(inbox: Annotated[str, typer.Option(help="Inbox name.")] = "default") -> None:
    """Pending approvals, soonest to expire first."""
    from rich.table import Table

    from agenthub.patterns.approvals import list_pending

    settings = _settings()

    async def main(stop: asyncio.Event) -> Any:
        client = await connect(settings)
        return await list_pending(client, task_queue=settings.task_queue, inbox=inbox)

    pending = _run(main)
    table = Table("approval id", "summary", "approvers", "expires", "workflow")
    for p in pending:
        table.add_row(
            p.approval_id, p.summary, ", ".join(p.approvers),
            f"{p.expires_at:%Y-%m-%d %H:%M}", p.workflow_id,
        )  # fmt: skip
    Console().print(table)
    console.print(f"{len(pending)} pending")


def _decide_cli(approval_id: str, approved: bool, by: str, reason: str, inbox: str) -> None:
    from agenthub.patterns.approvals import decide, list_pending

    settings = _settings()

    async def main(stop: asyncio.Event) -> Any:
        client = await connect(settings)
        pending = await list_pending(client, task_queue=settings.task_queue, inbox=inbox)
        match = next((p for p in pending if p.approval_id == approval_id), None)
        if match is None:
            raise ConfigurationError(f"no pending approval {approval_id!r} in inbox {inbox!r}")
        return await decide(client, match, approved=approved, by=by, reason=reason)

    try:
        decision = _run(main)
    except ApplicationError as err:  # InvalidInput: not an approver
        console.print(f"[bold red]error:[/] {err.message}")
        raise typer.Exit(1) from None
    verdict = "approved" if decision.approved else "rejected"
    console.print(f"[green]{verdict}[/] {approval_id} by {decision.by}")


ByOption = Annotated[str, typer.Option("--by", help="Who decides (must be an approver).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why.")]
InboxOption = Annotated[str, typer.Option("--inbox", help="Inbox name.")]


@approvals_app.command("approve")
def approvals_approve(
    approval_id: str, by: ByOption, reason: ReasonOption = "", inbox: InboxOption = "default"
) -> None:
    """Approve a pending approval."""
    _decide_cli(approval_id, True, by, reason, inbox)


@approvals_app.command("reject")
def approvals_reject(
    approval_id: str, by: ByOption, reason: ReasonOption = "", inbox: InboxOption = "default"
) -> None:
    """Reject a pending approval."""
    _decide_cli(approval_id, False, by, reason, inbox)


fanout_app = typer.Typer(help="Watch fan-outs.", no_args_is_help=True)
app.add_typer(fanout_app, name="fanout")


@fanout_app.command("progress")
def fanout_progress(
    workflow_id: Annotated[str, typer.Argument(help="Id of the workflow that runs fan_out.")],
    watch: Annotated[
        bool, typer.Option("--watch", help="Draw a progress bar until the workflow closes.")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between reads with --watch.")] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Done / failed / total of a fan-out, children in flight included.

    With --watch the exit code says how the workflow ended: 0 completed, 1 otherwise.
    """
    from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError
    from temporalio.service import RPCError, RPCStatusCode

    from agenthub.patterns.fanout import FanOutProgress, fan_out_progress

    settings = _settings()

    async def read(client: Any) -> FanOutProgress:
        try:
            return await fan_out_progress(client, workflow_id)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise ConfigurationError(f"no workflow {workflow_id!r} in this namespace") from None
            raise
        except WorkflowQueryFailedError as err:
            raise ConfigurationError(
                f"workflow {workflow_id!r} does not answer the fan-out progress query "
                f"(is it running fan_out?): {err}"
            ) from None

    async def once(stop: asyncio.Event) -> FanOutProgress:
        return await read(await connect(settings))

    if not watch:
        progress = _run(once)
        if as_json:
            typer.echo(json.dumps(dataclasses.asdict(progress)))
        else:
            typer.echo(
                f"{progress.done}/{progress.total} done, {progress.failed} failed, "
                f"{len(progress.running_children)} child workflow(s) in flight"
            )
        return

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    async def follow(stop: asyncio.Event) -> WorkflowExecutionStatus | None:
        client = await connect(settings)
        handle = client.get_workflow_handle(workflow_id)
        columns = [*Progress.get_default_columns()[:2], BarColumn(), MofNCompleteColumn()]
        with Progress(*columns, TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task(workflow_id, total=None)  # known from the first read
            while not stop.is_set():
                status = (await handle.describe()).status
                try:
                    # A closed workflow's query is answered by a worker replaying it; with no
                    # worker there is no answer, so the last figures stand.
                    progress = await asyncio.wait_for(read(client), timeout=10)
                except asyncio.TimeoutError:
                    if status != WorkflowExecutionStatus.RUNNING:
                        return status
                    continue
                failed = f" ({progress.failed} failed)" if progress.failed else ""
                bar.update(task, total=progress.total, completed=progress.done + progress.failed,
                           description=f"{workflow_id}{failed}")  # fmt: skip
                if status != WorkflowExecutionStatus.RUNNING:
                    return status
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        return None

    status = _run(follow)
    if status is None:
        return  # interrupted: the workflow goes on
    if status != WorkflowExecutionStatus.COMPLETED:
        console.print(f"[bold red]{workflow_id} ended {status.name}[/]")
        raise typer.Exit(1)
    console.print(f"[green]{workflow_id} completed[/]")


@app.command()
def lint(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to check.")],
    output_format: Annotated[
        str, typer.Option("--format", help="text or json.", case_sensitive=False)
    ] = "text",
) -> None:
    """Find non-deterministic code in workflows (exit 1 on findings, 2 on unreadable input)."""
    from agenthub.determinism.lint import LintError, lint_paths

    if output_format not in ("text", "json"):
        console.print(f"[bold red]error:[/] --format must be text or json, not {output_format!r}")
        raise typer.Exit(2)
    try:
        findings = lint_paths(paths)
    except LintError as err:
        console.print(f"[bold red]error:[/] {err}")
        raise typer.Exit(2) from None
    if output_format == "json":
        typer.echo(json.dumps([f.to_dict() for f in findings], indent=1))
    else:
        for finding in findings:
            typer.echo(finding.format())
        console.print(f"{len(findings)} finding(s)" if findings else "no findings")
    raise typer.Exit(1 if findings else 0)


def _import_workflows(specs: list[str]) -> list[type]:
    """``pkg.module:Class`` or ``pkg.module`` (every @workflow.defn class in it)."""
    import importlib
    import inspect
    import os
    import sys

    # Like uvicorn: modules named on the command line are looked up from where it runs.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    found: list[type] = []
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ConfigurationError(
                f"--workflows {spec}: cannot import {module_name}: {err}"
            ) from None
        if attr:
            try:
                found.append(getattr(module, attr))
            except AttributeError:
                raise ConfigurationError(
                    f"--workflows {spec}: {module_name} has no {attr}"
                ) from None
        else:
            found.extend(
                obj
                for _, obj in inspect.getmembers(module, inspect.isclass)
                if hasattr(obj, "__temporal_workflow_definition")
            )
    return found


@app.command()
def replay(
    workflows: Annotated[
        list[str],
        typer.Option(
            "--workflows", "-w", help="Current workflow code: pkg.module or pkg.module:Class."
        ),
    ],
    files: Annotated[
        list[Path] | None, typer.Option("--file", "-f", help="JSON history files or directories.")
    ] = None,
    workflow_ids: Annotated[
        list[str] | None, typer.Option("--workflow-id", help="Fetch this workflow's history.")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Fetch histories matching this query.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many histories from --query.")] = 100,
    save_dir: Annotated[
        Path | None, typer.Option(help="Also save fetched histories here (e.g. tests/histories).")
    ] = None,
) -> None:
    """Replay histories against the current code; exit 1 if any would break."""
    from rich.table import Table

    from agenthub.determinism.replay import (
        fetch_histories,
        load_history_file,
        replay_histories,
        save_history,
    )

    if not (files or workflow_ids or query):
        console.print("[bold red]error:[/] give --file, --workflow-id or --query")
        raise typer.Exit(2)

    async def main(stop: asyncio.Event) -> list[Any]:
        classes = _import_workflows(workflows)
        histories = []
        for path in files or []:
            paths = sorted(path.glob("*.json")) if path.is_dir() else [path]
            histories += [(load_history_file(p), str(p)) for p in paths]
        if workflow_ids or query:
            client = await connect(_settings())
            async for history in fetch_histories(
                client, workflow_ids=workflow_ids or [], query=query, limit=limit
            ):
                histories.append((history, "server"))
                if save_dir:
                    save_history(history, save_dir)
        return await replay_histories(histories, classes)

    reports = _run(main)
    table = Table("workflow id", "type", "result", "source")
    for r in reports:
        verdict = "[green]ok[/]" if r.ok else f"[red]breaks[/]: {r.error}"
        table.add_row(r.workflow_id, r.workflow_type, verdict, r.source)
    Console().print(table)
    broken = sum(not r.ok for r in reports)
    console.print(f"{len(reports)} replayed, {broken} would break")
    raise typer.Exit(1 if broken else 0)


if __name__ == "__main__":  # pragma: no cover
    app()
