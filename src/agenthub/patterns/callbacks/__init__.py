"""Async callbacks: start a request, then wait durably for its answer, with a timeout.

In workflow code, :func:`wait_for_callback` picks a callback id, runs a *request activity*
(send an email, call a webhook-based API, post to an approval queue) with a
:class:`CallbackRequest`, and waits for the completion. The request activity mints the
callback's token with :meth:`CallbackRequest.token`, so the bearer token never enters the
workflow history.

Tokens are HMAC-SHA256 signed (current secret plus old ones for rotation), carry the workflow
id, callback name, callback id and expiry, and are single-use: the workflow accepts one
completion per callback id. A forged or tampered token (401), one whose callback is not
pending in that workflow (404), one already used (409) and an expired one (410) are refused
before anything changes: completion is a workflow update whose validator rejects it, which
leaves no trace in the history.

Example::

    @activity.defn
    async def send_invoice_link(req: CallbackRequest) -> None:
        await mailer.send(req.payload, f"https://pay.example/cb/{req.token()}")

    @workflow.defn
    class Invoice:
        @workflow.run
        async def run(self, email: str) -> str:
            paid = await wait_for_callback(
                "payment", timeout=timedelta(days=7), request=send_invoice_link, payload=email
            )
            return f"paid: {paid}"
"""

from agenthub.patterns.callbacks.client import (
    complete_callback,
    completion_update_id,
    deliver_completion,
    revoke_callback_token,
)
from agenthub.patterns.callbacks.tokens import (
    DEFAULT_TOKEN_TTL,
    CallbackClaims,
    CallbackRequest,
    load_callback_secrets,
    sign_token,
    signing_secret,
    token_id,
    verify_token,
)
from agenthub.patterns.callbacks.workflow import (
    CALLBACK_REVOKE_UPDATE,
    CALLBACK_UPDATE,
    CallbackCompletion,
    wait_for_callback,
)

__all__ = [
    "CALLBACK_REVOKE_UPDATE",
    "CALLBACK_UPDATE",
    "DEFAULT_TOKEN_TTL",
    "CallbackClaims",
    "CallbackCompletion",
    "CallbackRequest",
    "complete_callback",
    "completion_update_id",
    "deliver_completion",
    "load_callback_secrets",
    "revoke_callback_token",
    "sign_token",
    "signing_secret",
    "token_id",
    "verify_token",
    "wait_for_callback",
]
