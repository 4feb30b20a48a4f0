"""Callback tokens: signing secrets, claims, signing and verifying (plain Python, used by
request activities, the API and the CLI), and the :class:`CallbackRequest` a request
activity mints its token from.

Example::

    token = req.token()          # in the request activity, with the worker's secret
    claims = verify_token(token, settings.callback_secrets())
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets as _secrets
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agenthub.errors import (
    CallbackExpired,
    ConfigurationError,
    InvalidCallbackToken,
)

__all__ = [
    "DEFAULT_TOKEN_TTL",
    "CallbackClaims",
    "CallbackRequest",
    "load_callback_secrets",
    "sign_token",
    "signing_secret",
    "token_id",
    "verify_token",
]

DEFAULT_TOKEN_TTL = timedelta(days=7)
"""A token expires at the end of its wait or this long after it is minted, whichever is
first; pass ``ttl=`` to :meth:`CallbackRequest.token` for another lifetime."""


def load_callback_secrets(data_dir: Path, current: str = "", old: Sequence[str] = ()) -> list[str]:
    """Signing secrets, current first: ``current`` (``Settings.callback_secret``) plus
    ``old`` ones (still accepted, never used to sign). Without ``current``, a random secret
    is created once in ``<data_dir>/callback-secret`` (mode 0600), which the workers, the API
    and the CLI of one project share. ``Settings.callback_secrets()`` calls this.

    Raises:
        ConfigurationError: the secret is shorter than 16 characters.
    """
    current = current.strip()
    if not current:
        path = data_dir / "callback-secret"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another process made it first
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(_secrets.token_urlsafe(32))
        current = path.read_text().strip()
    if len(current) < 16:
        raise ConfigurationError("AGENTHUB_CALLBACK_SECRET must be at least 16 characters")
    return [current, *(s.strip() for s in old if s.strip())]


_signing_secret: ContextVar[Callable[[], str] | None] = ContextVar(
    "agenthub_signing_secret", default=None
)


@contextlib.contextmanager
def signing_secret(secret: str | Callable[[], str]) -> Iterator[None]:
    """Make ``secret`` (or what the function returns, asked only when a token is minted)
    the default of :meth:`CallbackRequest.token` in this context.

    Workers with ``AgentHubPlugin`` do this around every activity, with the settings' secret.
    """
    reset = _signing_secret.set(secret if callable(secret) else lambda: secret)
    try:
        yield
    finally:
        _signing_secret.reset(reset)


@dataclass(frozen=True)
class CallbackClaims:
    """What a token says."""

    workflow_id: str
    name: str
    callback_id: str
    expires_at: datetime
    run_id: str = ""
    """The run that waits: a token never completes a later run (after continue-as-new)
    that reuses the callback id. Empty in tokens minted before runs were bound."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


def sign_token(claims: CallbackClaims, secret: str) -> str:
    """``v1.<claims>.<signature>``, URL-safe."""
    fields: dict[str, Any] = {
        "w": claims.workflow_id,
        "n": claims.name,
        "c": claims.callback_id,
        "e": int(claims.expires_at.timestamp()),
    }
    if claims.run_id:
        fields["r"] = claims.run_id
    body = _b64(json.dumps(fields, separators=(",", ":")).encode())
    return f"v1.{body}.{_mac(secret, body)}"


def token_id(token: str) -> str:
    """A short, stable id of ``token`` (a digest of its signature) that names it in
    revocations and logs without revealing it."""
    signature = token.rpartition(".")[2]
    return hashlib.sha256(signature.encode("ascii", "replace")).hexdigest()[:32]


def verify_token(
    token: str, secrets: Sequence[str], *, now: datetime | None = None
) -> CallbackClaims:
    """Check signature (any of ``secrets``) and expiry.

    Raises:
        InvalidCallbackToken: malformed, or signed with no known secret (forged, tampered).
        CallbackExpired: past its expiry.
    """
    parts = token.split(".")
    # Tokens are URL-safe base64: anything else (non-ASCII included) is not one of ours.
    if len(parts) != 3 or parts[0] != "v1" or not token.isascii():
        raise InvalidCallbackToken("malformed callback token")
    _, body, signature = parts
    if not any(hmac.compare_digest(_mac(s, body), signature) for s in secrets):
        raise InvalidCallbackToken("callback token signature does not match")
    try:
        raw = json.loads(_unb64(body))
        claims = CallbackClaims(
            workflow_id=str(raw["w"]),
            name=str(raw["n"]),
            callback_id=str(raw["c"]),
            expires_at=datetime.fromtimestamp(int(raw["e"]), tz=UTC),
            run_id=str(raw.get("r", "")),
        )
    except (ValueError, KeyError, TypeError):
        raise InvalidCallbackToken("malformed callback token claims") from None
    if (now or datetime.now(UTC)) >= claims.expires_at:
        raise CallbackExpired(
            f"callback {claims.name!r} expired at {claims.expires_at:%Y-%m-%d %H:%M:%S}Z"
        )
    return claims


@dataclass
class CallbackRequest:
    """Given to the request activity: who waits, for what, until when, plus your payload."""

    workflow_id: str
    name: str
    callback_id: str
    expires_at: datetime
    payload: Any = None
    run_id: str = ""

    def claims(self) -> CallbackClaims:
        return CallbackClaims(
            self.workflow_id, self.name, self.callback_id, self.expires_at, self.run_id
        )

    def token(self, secret: str | None = None, *, ttl: timedelta = DEFAULT_TOKEN_TTL) -> str:
        """Mint the callback's token (in the activity: the secret stays out of history).

        ``secret`` defaults to the worker's current secret (``Settings.callback_secret`` or
        ``<data_dir>/callback-secret``), set by ``AgentHubPlugin`` around each activity.
        The token expires when the wait ends or ``ttl`` after now, whichever is first.

        Raises:
            ConfigurationError: no secret given and none set (not on a worker with the plugin).
        """
        provider = _signing_secret.get()
        secret = secret or (provider() if provider is not None else None)
        if not secret:
            raise ConfigurationError(
                "CallbackRequest.token() has no signing secret: run the activity on a worker "
                "with AgentHubPlugin (agenthub.connect gives one), or pass secret="
            )
        if ttl <= timedelta(0):
            raise ConfigurationError(f"a token's ttl must be positive, got {ttl}")
        expires_at = min(self.expires_at, datetime.now(UTC) + ttl)
        return sign_token(replace(self.claims(), expires_at=expires_at), secret)
