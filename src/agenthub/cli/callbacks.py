"""``agenthub callback complete``: deliver data to a workflow waiting on a callback token."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from agenthub.cli._common import console, fail, run, settings_from
from agenthub.errors import InvalidCallbackToken
from agenthub.runtime.config import connect

callback_app = typer.Typer(help="Complete async callbacks.", no_args_is_help=True)


@callback_app.command("complete")
def callback_complete(
    token: Annotated[str, typer.Argument(help="The callback token.")],
    data: Annotated[str, typer.Option("--data", help="JSON to deliver.")] = "null",
) -> None:
    """Deliver JSON data to the workflow waiting on TOKEN."""
    from agenthub.patterns.callbacks import complete_callback

    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as err:
        fail(f"--data must be JSON: {err}", code=2)
    settings = settings_from()

    async def main(stop: asyncio.Event) -> Any:
        secrets = settings.callback_secrets()
        client = await connect(settings)
        try:
            return await complete_callback(client, token, value, secrets=secrets)
        except InvalidCallbackToken as err:
            raise InvalidCallbackToken(
                f"{err} (checked against the secret from {settings.callback_secret_source})"
            ) from None

    claims = run(main)  # a refusal (CallbackError) exits 1 with its message
    console.print(f"[green]delivered[/] to {claims.workflow_id} ({claims.name})")
