"""``agenthub fanout progress``: a fan-out's progress, once or as a live bar."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from typing import Annotated, Any

import typer

from agenthub.cli._common import console, run, settings_from
from agenthub.errors import ConfigurationError
from agenthub.runtime.connect import connect

fanout_app = typer.Typer(help="Watch fan-outs.", no_args_is_help=True)


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

    settings = settings_from()

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
        progress = run(once)
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
                except TimeoutError:
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

    status = run(follow)
    if status is None:
        return  # interrupted: the workflow goes on
    if status != WorkflowExecutionStatus.COMPLETED:
        console.print(f"[bold red]{workflow_id} ended {status.name}[/]")
        raise typer.Exit(1)
    console.print(f"[green]{workflow_id} completed[/]")
