"""``agenthub schedules list / pause / unpause / trigger / history``: agents on a schedule."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from pydantic_core import to_jsonable_python

from agenthub.cli._common import console, is_terminal, print_rows, run, settings_from
from agenthub.runtime.connect import connect

schedules_app = typer.Typer(
    help="Agents on Temporal schedules ([schedules.NAME] in agenthub.toml).",
    no_args_is_help=True,
)
TenantOption = Annotated[
    str, typer.Option("--tenant", envvar="AGENTHUB_TENANT", help="The tenant [AGENTHUB_TENANT].")
]
NameArgument = Annotated[str, typer.Argument(help="The schedule's name in agenthub.toml.")]


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z") if moment else ""


def _act(tenant: str, action: str, name: str) -> Any:
    settings = settings_from()

    async def main(stop: asyncio.Event) -> Any:
        from agenthub.agents.schedules import HubSchedules

        schedules = HubSchedules(await connect(settings), tenant=tenant)
        if action == "list":
            return await schedules.list()
        method = getattr(schedules, action)
        return await method(name)

    return run(main)


@schedules_app.command("list")
def schedules_list(tenant: TenantOption = "default") -> None:
    """The tenant's schedules: when they fire, paused or not, the next fire."""
    views = _act(tenant, "list", "")
    if not is_terminal():
        typer.echo(json.dumps(to_jsonable_python(views)))
        return
    if not views:
        console.print(
            f"no schedules in tenant {tenant!r} (declare \\[schedules.NAME] in agenthub.toml)"
        )
        return
    rows = [
        (
            v.name, v.agent, v.when,
            ("paused" + (f" ({v.note})" if v.note else "")) if v.paused else "active",
            _when(v.next_fires[0]) if v.next_fires and not v.paused else "",
            str(v.fires),
        )
        for v in views
    ]  # fmt: skip
    print_rows(("schedule", "agent", "when", "state", "next fire", "fires"), rows, keep=0)


@schedules_app.command("pause")
def schedules_pause(name: NameArgument, tenant: TenantOption = "default") -> None:
    """Stop firing (kept across `up` restarts) until `unpause`."""
    view = _act(tenant, "pause", name)
    console.print(f"[yellow]paused[/] schedule {view.name!r}")


@schedules_app.command("unpause")
def schedules_unpause(name: NameArgument, tenant: TenantOption = "default") -> None:
    """Fire again on schedule."""
    view = _act(tenant, "unpause", name)
    nxt = f"; next fire {_when(view.next_fires[0])}" if view.next_fires else ""
    console.print(f"[green]active[/] schedule {view.name!r}{nxt}")


@schedules_app.command("trigger")
def schedules_trigger(name: NameArgument, tenant: TenantOption = "default") -> None:
    """Fire once now (the schedule's overlap policy applies)."""
    view = _act(tenant, "trigger", name)
    console.print(
        f"[green]triggered[/] schedule {view.name!r}: its task shows in agenthub tasks list "
        f"(ids schedule.{view.name}-<fire time>)"
    )


@schedules_app.command("history")
def schedules_history(name: NameArgument, tenant: TenantOption = "default") -> None:
    """The latest fires (their task ids), and the counts of fires and skips."""
    view = _act(tenant, "get", name)
    if not is_terminal():
        typer.echo(json.dumps(to_jsonable_python(view)))
        return
    console.print(
        f"[bold]{view.name}[/] ({view.agent}, {view.when}, overlap {view.overlap}): "
        f"{view.fires} fires, {view.skipped} skipped" + (", paused" if view.paused else "")
    )
    for task_id in view.recent:
        console.print(f"  {task_id}  (agenthub tasks show {task_id})", highlight=False)
