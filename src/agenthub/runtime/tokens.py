"""API tokens: bearer credentials of the HTTP API, each bound to an identity and a tenant.

A token is ``ahk_<id>_<secret>``. Only the SHA-256 of the secret is stored (the secret is
32 random bytes, so a fast hash is enough): on one machine in ``<data_dir>/api-tokens.json``
(mode 0600), which ``agenthub token create|list|revoke`` and the API share (the API re-reads
the file when it changes, so a revocation takes effect on the next request); with a
PostgreSQL ledger in its database, which every API replica reads (a revocation takes effect
everywhere within a few seconds).

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
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agenthub.errors import ConfigurationError

__all__ = ["ApiToken", "ApiTokenStore", "PostgresTokenStore", "TokenStore"]

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


class TokenStore(ABC):
    """Where API tokens live; the checks are the same for every store (see the module
    docstring). Subclasses keep records: :class:`ApiTokenStore` in a file,
    :class:`PostgresTokenStore` in PostgreSQL for API replicas on several machines."""

    location: str
    """Where the records are, for messages."""

    @abstractmethod
    def _load(self) -> dict[str, ApiToken]:
        """The records by token id (a store may serve them from a short-lived cache)."""

    @abstractmethod
    def _add(self, record: ApiToken) -> None:
        """Keep a new record."""

    @abstractmethod
    def _revoke(self, token_id: str, at: str) -> ApiToken | None:
        """Mark a record revoked at ``at`` (unless it is already); the record, or ``None``
        when there is none."""

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
        self._add(record)
        return f"{_PREFIX}{token_id}_{secret}", record

    def revoke(self, token_id: str) -> ApiToken:
        """Revoke a token by its id (``agenthub token list`` shows ids); idempotent.

        Raises:
            ConfigurationError: no token has that id.
        """
        record = self._revoke(token_id, datetime.now(UTC).isoformat("T", "seconds"))
        if record is None:
            raise ConfigurationError(
                f"no API token {token_id!r} in {self.location}; `agenthub token list` shows ids"
            )
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


class ApiTokenStore(TokenStore):
    """The API tokens of one data dir, in a file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
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

    def _add(self, record: ApiToken) -> None:
        with self._locked():
            tokens = dict(self._load())
            tokens[record.token_id] = record
            self._save(tokens)

    def _revoke(self, token_id: str, at: str) -> ApiToken | None:
        with self._locked():
            tokens = dict(self._load())
            record = tokens.get(token_id)
            if record is not None and record.active:
                record = ApiToken(**{**asdict(record), "revoked_at": at})
                tokens[token_id] = record
                self._save(tokens)
        return record


_TABLE = (
    "CREATE TABLE IF NOT EXISTS agenthub_api_tokens (token_id TEXT PRIMARY KEY, "
    "identity TEXT NOT NULL, tenant TEXT NOT NULL, created_at TEXT NOT NULL, "
    "secret_sha256 TEXT NOT NULL, revoked_at TEXT NOT NULL DEFAULT '')"
)
_COLUMNS = "token_id, identity, tenant, created_at, secret_sha256, revoked_at"


class PostgresTokenStore(TokenStore):
    """API tokens in PostgreSQL (the ledger's database on a cluster), seen by every API
    replica. Each replica reads them at most every ``ttl`` seconds, so a token created or
    revoked on one replica takes effect on the others within ``ttl`` (at once on its own).

    Why PostgreSQL rather than the Temporal cluster: a hub on many machines has it already
    (the ledger), an API replica reads it without a worker running (a workflow holding the
    hashes would answer queries only while one does), and a revocation is one row.
    """

    def __init__(self, dsn: str, *, ttl: float = 5.0) -> None:
        try:
            import psycopg
        except ImportError:
            raise ConfigurationError(
                "API tokens in PostgreSQL need psycopg: pip install 'agenthub[cluster]'"
            ) from None
        self._psycopg = psycopg
        self.dsn = dsn
        self.ttl = ttl
        self.location = "the ledger's PostgreSQL (table agenthub_api_tokens)"
        self._cache: tuple[float, dict[str, ApiToken]] | None = None
        with self._connect() as conn:
            conn.execute(_TABLE)

    def _connect(self) -> Any:
        return self._psycopg.connect(self.dsn, autocommit=True)

    def _load(self) -> dict[str, ApiToken]:
        now = time.monotonic()
        if self._cache is not None and now - self._cache[0] < self.ttl:
            return self._cache[1]
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM agenthub_api_tokens").fetchall()
        tokens = {row[0]: ApiToken(*row) for row in rows}
        self._cache = (now, tokens)
        return tokens

    def _add(self, record: ApiToken) -> None:
        with self._connect() as conn:
            conn.execute(
                f"INSERT INTO agenthub_api_tokens ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
                tuple(asdict(record).values()),
            )
        self._cache = None

    def _revoke(self, token_id: str, at: str) -> ApiToken | None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE agenthub_api_tokens SET revoked_at = %s "
                "WHERE token_id = %s AND revoked_at = ''",
                (at, token_id),
            )
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM agenthub_api_tokens WHERE token_id = %s", (token_id,)
            ).fetchone()
        self._cache = None
        return ApiToken(*row) if row is not None else None
