"""API tokens: bearer credentials of the HTTP API, each bound to an identity and a tenant.

A token is ``ahk_<id>_<secret>``. Only the SHA-256 of the secret is stored (the secret is
32 random bytes, so a fast hash is enough), in ``<data_dir>/api-tokens.json`` (mode 0600),
which ``agenthub token create|list|revoke`` and the API share. The API re-reads the file
when it changes, so a revocation takes effect on the next request.

Example::

    store = ApiTokenStore(settings.data_dir / "api-tokens.json")
    token, record = store.create(identity="ana", tenant="acme")
    assert store.authenticate(token) == record
    store.revoke(record.token_id)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from agenthub.errors import ConfigurationError

__all__ = ["ApiToken", "ApiTokenStore"]

_PREFIX = "ahk_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


@dataclass(frozen=True)
class ApiToken:
    """What the store keeps of a token (never the token itself)."""

    token_id: str
    identity: str
    tenant: str
    created_at: str
    secret_sha256: str
    revoked_at: str = ""

    @property
    def active(self) -> bool:
        return not self.revoked_at


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def _check_name(kind: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ConfigurationError(
            f"{kind} {value!r} is not a valid name: use 1-128 letters, digits or . _ @ + -, "
            "starting with a letter or digit"
        )
    return value


class ApiTokenStore:
    """The API tokens of one data dir (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[tuple[int, int], dict[str, ApiToken]] | None = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load(self) -> dict[str, ApiToken]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        key = (stat.st_mtime_ns, stat.st_size)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            tokens = {t["token_id"]: ApiToken(**t) for t in raw["tokens"]}
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigurationError(
                f"{self.path} is not a valid API token file ({err}); fix it or remove it and "
                "create tokens again with `agenthub token create`"
            ) from None
        self._cache = (key, tokens)
        return tokens

    def _save(self, tokens: dict[str, ApiToken]) -> None:
        data = json.dumps({"tokens": [asdict(t) for t in tokens.values()]}, indent=1)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-tokens-")  # 0600
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, self.path)
        self._cache = None

    def has_tokens(self) -> bool:
        """Whether any token is active (then the API requires one)."""
        return any(t.active for t in self._load().values())

    def list(self) -> list[ApiToken]:
        """All tokens, revoked ones included, oldest first."""
        return sorted(self._load().values(), key=lambda t: t.created_at)

    def create(self, *, identity: str, tenant: str = "default") -> tuple[str, ApiToken]:
        """A new token for ``identity`` in ``tenant``: returns the token (shown once) and
        its record.

        Raises:
            ConfigurationError: ``identity`` or ``tenant`` is not a plain name.
        """
        _check_name("identity", identity)
        _check_name("tenant", tenant)
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        record = ApiToken(
            token_id=token_id,
            identity=identity,
            tenant=tenant,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            secret_sha256=_digest(secret),
        )
        with self._locked():
            tokens = dict(self._load())
            tokens[token_id] = record
            self._save(tokens)
        return f"{_PREFIX}{token_id}_{secret}", record

    def revoke(self, token_id: str) -> ApiToken:
        """Revoke a token by its id (``agenthub token list`` shows ids); idempotent.

        Raises:
            ConfigurationError: no token has that id.
        """
        with self._locked():
            tokens = dict(self._load())
            record = tokens.get(token_id)
            if record is None:
                raise ConfigurationError(
                    f"no API token {token_id!r} in {self.path}; `agenthub token list` shows ids"
                )
            if record.active:
                record = ApiToken(
                    **{**asdict(record), "revoked_at": datetime.now(UTC).isoformat("T", "seconds")}
                )
                tokens[token_id] = record
                self._save(tokens)
        return record

    def authenticate(self, token: str) -> ApiToken | None:
        """The active record ``token`` proves, or ``None`` (unknown, wrong or revoked)."""
        if not token.startswith(_PREFIX) or not token.isascii():
            return None
        token_id, _, secret = token[len(_PREFIX) :].partition("_")
        record = self._load().get(token_id)
        if record is None or not record.active:
            return None
        if not hmac.compare_digest(record.secret_sha256, _digest(secret)):
            return None
        return record
