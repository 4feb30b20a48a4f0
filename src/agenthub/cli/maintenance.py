"""``agenthub gc``: delete offloaded payloads that no history references any more."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from temporalio.client import Client

from agenthub.cli._common import console, run, settings_from
from agenthub.runtime.connect import connect
from agenthub.runtime.gc import PayloadGcReport, collect_payload_garbage, describe_gc
from agenthub.runtime.settings import Settings


async def sweep_payloads(
    client: Client, settings: Settings, *, dry_run: bool = False, progress: Progress | None = None
) -> PayloadGcReport:
    """One sweep of ``<data_dir>/payloads`` against ``client``'s namespace."""
    task = progress.add_task("scanning histories", total=None) if progress else None

    def advance(scanned: int) -> None:
        if progress is not None and task is not None:
            progress.update(task, completed=scanned, description=f"scanned {scanned} histories")

    return await collect_payload_garbage(
        client,
        settings.data_dir / "payloads",
        grace=timedelta(seconds=settings.payload_gc_grace),
        dry_run=dry_run,
        progress=advance,
    )


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be deleted; delete nothing.")
    ] = False,
    grace: Annotated[
        int | None,
        typer.Option(
            "--grace", min=0, help="Keep payloads stored within this many seconds (default 3600)."
        ),
    ] = None,
) -> None:
    """Delete offloaded payloads (<data_dir>/payloads) that no history references any more.

    The server drops a closed workflow's history when its namespace's retention ends; this
    then frees its offloaded payloads. `agenthub up` does it every AGENTHUB_PAYLOAD_GC_INTERVAL
    seconds.
    """
    settings = settings_from(payload_gc_grace=grace)

    async def main(stop: asyncio.Event) -> PayloadGcReport:
        client = await connect(settings)
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            return await sweep_payloads(client, settings, dry_run=dry_run, progress=progress)

    report = run(main)
    console.print(describe_gc(report))


def register(app: typer.Typer) -> None:
    """Add ``gc`` to ``app``."""
    app.command("gc")(gc)
