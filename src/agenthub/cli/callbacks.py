"""``agenthub callback complete|revoke``: deliver data to, or revoke, a callback token."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from agenthub.cli._common import console, fail, run, settings_from
from agenthub.errors import InvalidCallbackToken
from agenthub.patterns.callbacks import CallbackClaims
from agenthub.runtime.connect import connect

callback_app = typer.Typer(help="Complete or revoke async callbacks.", no_args_is_help=True)

_TOKEN_HELP = "The callback token, or - to read it from stdin (keeps it out of `ps`)."


def _read_token(token: str) -> str:
    if token == "-":
        token = sys.stdin.readline().strip()
        if not token:
            fail("no token on stdin", code=2)
    return token


def _with_token(
    token: str, action: Callable[[Any, str, list[str]], Awaitable[CallbackClaims]]
) -> CallbackClaims:
    settings = settings_from()
    token = _read_token(token)

    async def main(stop: asyncio.Event) -> CallbackClaims:
        from agenthub.patterns.callbacks import verify_token

        secrets = settings.callback_secrets()
        try:
            verify_token(token, secrets)  # a bad token is told before any connection
            return await action(await connect(settings), token, secrets)
        except InvalidCallbackToken as err:
            raise type(err)(
                f"{err} (checked against the secret from {settings.callback_secret_source})"
            ) from None

    result: CallbackClaims = run(main)  # a refusal (CallbackError) exits 1 with its message
    return result


@callback_app.command("complete")
def callback_complete(
    token: Annotated[str, typer.Argument(help=_TOKEN_HELP)],
    data: Annotated[str, typer.Option("--data", help="JSON to deliver.")] = "null",
) -> None:
    """Deliver JSON data to the workflow waiting on TOKEN."""
    from agenthub.patterns.callbacks import complete_callback

    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        fail(f"--data must be JSON: {reason}", code=2)

    claims = _with_token(
        token, lambda client, t, secrets: complete_callback(client, t, value, secrets=secrets)
    )
    console.print(f"[green]delivered[/] to {claims.workflow_id} ({claims.name})")


@callback_app.command("revoke")
def callback_revoke(token: Annotated[str, typer.Argument(help=_TOKEN_HELP)]) -> None:
    """Revoke TOKEN: its workflow refuses it from now on (the callback stays pending)."""
    from agenthub.patterns.callbacks import revoke_callback_token

    claims = _with_token(
        token, lambda client, t, secrets: revoke_callback_token(client, t, secrets=secrets)
    )
    console.print(f"[green]revoked[/] a token of {claims.workflow_id} ({claims.name})")
