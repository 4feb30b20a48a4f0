"""Agents started by signed webhooks: ``[webhooks.NAME]`` of ``agenthub.toml``.

A sender signs the raw request body with a shared secret, in one of two schemes:

* ``hmac-sha256`` (the scheme GitHub uses): header ``X-Hub-Signature-256: sha256=<hex>``,
  the HMAC-SHA256 of the raw body;
* ``timestamped`` (the scheme Stripe uses): header ``X-Webhook-Signature: t=<unix
  seconds>,v1=<hex>``, the HMAC-SHA256 of ``<t>.<raw body>``; a timestamp further than
  ``tolerance`` from now is refused, so a captured request cannot be replayed later.

The signature is checked before the body is parsed. The task's id is the sender's delivery
id (``delivery_header``) or else a digest of the body, so a redelivered webhook starts one
task and is answered with that same task every time.

Example::

    hook = WebhookSpec("triage", agent="triager", goal="Triage: {{ body.issue.title }}",
                       secret=b"...", delivery_header="X-GitHub-Delivery")
    hook.verify(headers, raw_body, now=time.time())     # raises BadSignature
    task_id = hook.task_id(headers, raw_body)
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from agenthub.agents.goals import render_goal
from agenthub.errors import HubError

__all__ = ["BadSignature", "WebhookSpec", "sign"]

Scheme = Literal["hmac-sha256", "timestamped"]
DEFAULT_HEADERS: dict[str, str] = {
    "hmac-sha256": "X-Hub-Signature-256",
    "timestamped": "X-Webhook-Signature",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._:@+-]")


class BadSignature(HubError):
    """401: the webhook's signature is missing, malformed, wrong or too old; nothing was
    read of its body and nothing started."""

    status = 401


@dataclass(frozen=True)
class WebhookSpec:
    """One webhook: who it starts (``agent``, in ``tenant``), on what goal (a template over
    ``{{ body... }}`` and ``{{ hook }}``), and how its sender signs."""

    name: str
    agent: str
    goal: str
    secret: bytes
    scheme: Scheme = "hmac-sha256"
    signature_header: str = ""
    delivery_header: str = ""
    """The sender's delivery id header (``X-GitHub-Delivery``); else a digest of the body."""
    tolerance: timedelta = timedelta(minutes=5)
    tenant: str = "default"

    @property
    def header(self) -> str:
        return self.signature_header or DEFAULT_HEADERS[self.scheme]

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Check the signature of ``body``.

        Raises:
            BadSignature: missing, malformed, wrong, or (``timestamped``) outside the
                tolerance.
        """
        presented = headers.get(self.header.lower(), "") or headers.get(self.header, "")
        if not presented:
            raise BadSignature(f"missing {self.header} header: sign the body ({self.scheme})")
        if self.scheme == "hmac-sha256":
            expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(presented.strip().encode(), expected.encode()):
                raise BadSignature(f"{self.header} does not match the body")
            return
        fields = dict(part.strip().split("=", 1) for part in presented.split(",") if "=" in part)
        stamp = fields.get("t", "")
        if not stamp.isdigit():
            raise BadSignature(f"{self.header} needs t=<unix seconds>,v1=<hex>")
        if abs(now - int(stamp)) > self.tolerance.total_seconds():
            raise BadSignature(
                f"{self.header} timestamp is outside the tolerance of "
                f"{int(self.tolerance.total_seconds())}s (a replay, or a clock that is off)"
            )
        signed = stamp.encode() + b"." + body
        expected = hmac.new(self.secret, signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(fields.get("v1", "").encode(), expected.encode()):
            raise BadSignature(f"{self.header} does not match the body")

    def task_id(self, headers: Mapping[str, str], body: bytes) -> str:
        """``hook.<name>-<delivery id or body digest>``: the same delivery, the same task."""
        delivery = ""
        if self.delivery_header:
            delivery = headers.get(self.delivery_header.lower(), "").strip()
        key = _UNSAFE.sub("_", delivery)[:80] if delivery else hashlib.sha256(body).hexdigest()[:32]
        return f"hook.{self.name}-{key}"

    def render(self, body: Any) -> str:
        """The task's goal for this delivery's JSON ``body``."""
        return render_goal(self.goal, {"body": body, "hook": self.name})


def sign(secret: bytes, body: bytes, *, scheme: Scheme = "hmac-sha256", at: int = 0) -> str:
    """The signature header value a sender computes (for tests and senders of your own)."""
    if scheme == "hmac-sha256":
        return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    digest = hmac.new(secret, str(at).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"
