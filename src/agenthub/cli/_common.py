"""What every command shares: the consoles, option types, settings and the runner that turns
errors into one line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from temporalio.exceptions import ApplicationError

from agenthub.errors import AgentHubError
from agenthub.runtime.settings import Settings

T = TypeVar("T")

# soft_wrap: a one-line error stays one line at any terminal width (and in logs).
console = Console(stderr=True, soft_wrap=True)
"""Messages, progress and errors go to stderr; results go to stdout."""

DEBUG_VARIABLE = "AGENTHUB_DEBUG"

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
    str | None,
    typer.Option("--task-queue", help="Task queue [AGENTHUB_TASK_QUEUE, agenthub]."),
]


def settings_from(**overrides: Any) -> Settings:
    """``Settings.from_env`` with command-line overrides; a bad value exits 1 in one line."""
    try:
        return Settings.from_env(**overrides)
    except AgentHubError as err:
        fail(err)


def fail(err: BaseException | str, code: int = 1) -> NoReturn:
    """Print ``error: ...`` on one line and exit with ``code``."""
    console.print(f"[bold red]error:[/] {err}", markup=True, highlight=False)
    raise typer.Exit(code) from None


def run(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run ``main`` with an event set on SIGINT/SIGTERM.

    agenthub errors exit 1 with their message; Ctrl-C before the handlers are in place exits
    130 quietly; anything unexpected exits 1 with its type and message on one line (the
    traceback with ``AGENTHUB_DEBUG=1``).
    """

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
        fail(err)
    except ApplicationError as err:  # agenthub's typed errors (InvalidInput, ...)
        fail(f"{err.type or 'ApplicationError'}: {err.message}")
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except Exception as err:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        fail(f"{type(err).__name__}: {err} (set {DEBUG_VARIABLE}=1 for the traceback)")


def print_rows(headers: Sequence[str], rows: Sequence[Sequence[str]], *, keep: int = -1) -> None:
    """A table on a terminal, else one tab-separated line a row (whole values, for pipes).

    ``keep`` is the column a person copies (an id): on a terminal it is never cut, whatever
    the width; the others wrap.
    """
    if not is_terminal():
        for row in rows:
            typer.echo("\t".join(row))
        return
    from rich.console import Console
    from rich.table import Column, Table

    columns = [
        Column(h, no_wrap=True, min_width=max(len(r[i]) for r in rows))
        if i == keep and rows
        else Column(h)
        for i, h in enumerate(headers)
    ]
    table = Table(*columns)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def is_terminal() -> bool:
    """Whether stdout is a terminal (tables there; plain lines for pipes and files)."""
    return sys.stdout.isatty()
