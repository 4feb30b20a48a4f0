"""The ``agenthub`` command line: a typer app per group, each in its own module.

``agenthub up`` runs the embedded server, a worker and the HTTP API; ``agenthub --help``
lists the rest.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn

import typer

from agenthub._version import __version__
from agenthub.cli import agents, demo, determinism, evaluate, maintenance, serve
from agenthub.cli.approvals import approvals_app
from agenthub.cli.callbacks import callback_app
from agenthub.cli.cluster import cluster_app
from agenthub.cli.fanout import fanout_app
from agenthub.cli.schedules import schedules_app
from agenthub.cli.tokens import token_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="agenthub",
    help="Durable workflow patterns and an agent hub on Temporal.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agenthub {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Durable workflow patterns and an agent hub on Temporal."""


serve.register(app)
agents.register(app)
evaluate.register(app)
app.add_typer(callback_app, name="callback")
app.add_typer(approvals_app, name="approvals")
app.add_typer(fanout_app, name="fanout")
app.add_typer(token_app, name="token")
app.add_typer(cluster_app, name="cluster")
app.add_typer(schedules_app, name="schedules")
determinism.register(app)
maintenance.register(app)
app.command()(demo.demo)


def main() -> NoReturn:
    """The ``agenthub`` script: run the app, flush, and exit without interpreter teardown.

    The SDK's Rust threads may still call into Python while a short-lived client process
    finalizes, which aborts it (``PyGILState_Release``, temporalio/sdk-python#300): a
    finished command exits at once with its own code instead.
    """
    code = 0
    try:
        app(prog_name="agenthub")
    except SystemExit as done:
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
            code = 1
        else:
            code = done.code or 0
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
