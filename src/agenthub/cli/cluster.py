"""``agenthub cluster check``: one line per shared part of a hub on many machines."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from agenthub.cli._common import console, run, settings_from
from agenthub.cluster import ClusterCheck, check_cluster, promote

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


@cluster_app.command("promote")
def cluster_promote(
    build_id: Annotated[str, typer.Argument(help="The build id the new workers run with.")],
) -> None:
    """Send new work to the workers of BUILD_ID (Worker Deployment Versioning, deployment
    AGENTHUB_DEPLOYMENT_NAME); tasks already running finish on the version they started on."""
    settings = settings_from()

    async def main(stop: asyncio.Event) -> str:
        from agenthub.runtime.connect import connect

        return await promote(await connect(settings), settings.deployment_name, build_id)

    console.print(f"[green]promoted[/] {run(main)}", soft_wrap=True)
