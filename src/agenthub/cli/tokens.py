"""``agenthub token create / list / revoke``: API tokens, each acting as an identity."""

from __future__ import annotations

from typing import Annotated

import typer

from agenthub.cli._common import console, fail, print_rows, settings_from
from agenthub.errors import ConfigurationError

token_app = typer.Typer(help="Create, list and revoke HTTP API tokens.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    identity: Annotated[
        str, typer.Option("--identity", help="Who the token acts as (e.g. an approver's name).")
    ],
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant it belongs to.")] = "default",
) -> None:
    """Create a token; it is printed once (only its hash is kept)."""
    store = settings_from().api_tokens()
    try:
        token, record = store.create(identity=identity, tenant=tenant)
    except ConfigurationError as err:
        fail(str(err), code=2)
    typer.echo(token)  # stdout: the token alone, for scripts
    console.print(
        f"[green]created[/] token {record.token_id} for {record.identity!r} (tenant "
        f"{record.tenant!r}); it is not shown again. Send it as Authorization: Bearer <token>"
    )


@token_app.command("list")
def token_list() -> None:
    """Tokens with their identity, tenant and state (never the tokens themselves)."""
    store = settings_from().api_tokens()
    try:
        records = store.list()
    except ConfigurationError as err:
        fail(str(err))
    if not records:
        console.print(f"no API tokens in {store.location}")
        return
    rows = [
        (r.token_id, r.identity, r.tenant, r.created_at, f"revoked {r.revoked_at}"
         if r.revoked_at else "active")
        for r in records
    ]  # fmt: skip
    print_rows(("id", "identity", "tenant", "created", "state"), rows, keep=0)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The id `token list` shows.")],
) -> None:
    """Revoke a token; the API refuses it from its next request."""
    try:
        record = settings_from().api_tokens().revoke(token_id)
    except ConfigurationError as err:
        fail(str(err))
    console.print(f"[green]revoked[/] token {record.token_id} of {record.identity!r}")
