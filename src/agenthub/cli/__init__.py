"""The ``agenthub`` command line: a typer app per group, each in its own module.

``agenthub up`` runs the embedded server, a worker and the HTTP API; ``agenthub --help``
lists the rest.
"""

from __future__ import annotations

from typing import Annotated

import typer

from agenthub._version import __version__
from agenthub.cli import demo, determinism, maintenance, serve
from agenthub.cli.approvals import approvals_app
from agenthub.cli.callbacks import callback_app
from agenthub.cli.fanout import fanout_app
from agenthub.cli.tokens import token_app

__all__ = ["app"]

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
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Durable workflow patterns and an agent hub on Temporal."""


serve.register(app)
app.add_typer(callback_app, name="callback")
app.add_typer(approvals_app, name="approvals")
app.add_typer(fanout_app, name="fanout")
app.add_typer(token_app, name="token")
determinism.register(app)
maintenance.register(app)
app.command()(demo.demo)
