"""``agenthub cluster check``: one line per shared part of a hub on many machines."""

from __future__ import annotations

import asyncio

import typer

from agenthub.cli._common import console, run, settings_from
from agenthub.cluster import ClusterCheck, check_cluster

cluster_app = typer.Typer(help="A hub on many machines.", no_args_is_help=True)


@cluster_app.command("check")
def cluster_check() -> None:
    """Check the namespace, the payload store, the ledger, the API tokens and the callback
    secret against TEMPORAL_ADDRESS / temporal.toml; exit 1 when any fails."""
    settings = settings_from()

    async def main(stop: asyncio.Event) -> list[ClusterCheck]:
        return await check_cluster(settings)

    checks = run(main)
    for check in checks:
        mark = "[green]ok  [/]" if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {check.part:<17} {check.detail}", soft_wrap=True)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)
