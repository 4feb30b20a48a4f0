"""The idempotency ledger: an effect recorded under a unique key happens once.

Two ways to use it, from activities:

* :meth:`IdempotencyLedger.run_once` runs ``effect(conn)`` inside the same database
  transaction that records the key and the result. When the effect is a write to that same
  database (the effects agenthub performs itself: a balance, an outbox row, a state change),
  effect and record commit together: a crash before the commit leaves neither, a crash after
  it leaves both, and a retry returns the recorded result without acting again.
  Concurrent attempts with the same key serialize on the key; exactly one acts.

* :func:`idempotent` decorates an activity whose effect is elsewhere (an HTTP API): the first
  attempt claims the key, runs, and records the result; a retry after completion returns the
  recorded result. An attempt that died mid-way leaves a claim that expires after
  ``lease``; the next attempt then runs again, presenting the same
  :func:`~agenthub.patterns.idempotency.activity_idempotency_key`, which the outside system
  must honour for exactly-once.

SQLite (WAL) is the default, in the data dir; PostgreSQL is used for a ``postgresql://``
DSN (``pip install 'agenthub[postgres]'``).

Example::

    ledger = SqliteLedger(Settings.from_env().data_dir / "ledger.db")

    @activity.defn
    async def credit(account: str, amount: int) -> int:
        def effect(conn):
            conn.execute("UPDATE acct SET balance = balance + ? WHERE id = ?", (amount, account))
            return conn.execute("SELECT balance FROM acct WHERE id = ?", (account,)).fetchone()[0]

        return await ledger.run_once(activity_idempotency_key("credit"), effect)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar, get_type_hints

from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python
from temporalio import activity

from agenthub.errors import ConfigurationError, InvalidInput, TransientFailure
from agenthub.patterns.idempotency import activity_idempotency_key

__all__ = [
    "IdempotencyLedger",
    "LedgerRecord",
    "PostgresLedger",
    "SqliteLedger",
    "act_once",
    "fingerprint_call",
    "idempotency_key",
    "idempotency_scope",
    "idempotent",
    "open_ledger",
]

T = TypeVar("T")
P = ParamSpec("P")

_DONE, _RUNNING = "done", "running"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _dump(value: Any) -> str:
    # Dataclasses and pydantic models are stored as JSON; the workflow decodes them by type.
    return json.dumps(to_jsonable_python(value))


def _return_type(fn: Callable[..., Any]) -> Any:
    """``fn``'s return annotation, or None when it has none that resolves."""
    try:
        hint = get_type_hints(fn).get("return")
    except Exception:  # unresolvable forward references: decode as plain JSON
        return None
    return None if hint in (None, type(None), Any) else hint


def _decode(value: Any, fn: Callable[..., Any]) -> Any:
    """A recorded JSON value as ``fn``'s return type (a tuple stays a tuple, a dataclass a
    dataclass), so the first call and every later one return the same type."""
    hint = _return_type(fn)
    if hint is None:
        return value
    try:
        adapter = _adapter(hint)
    except TypeError:  # an unhashable annotation: build it this once
        adapter = TypeAdapter(hint)
    return adapter.validate_python(value)


@functools.lru_cache(maxsize=256)
def _adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint)


def fingerprint_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A digest of a call's arguments (canonical JSON)."""
    canonical = json.dumps(
        to_jsonable_python([list(args), kwargs], fallback=repr), sort_keys=True
    ).encode("utf-8", "surrogatepass")
    return hashlib.sha256(canonical).hexdigest()[:24]


_current_key: ContextVar[str | None] = ContextVar("agenthub_idempotency_key", default=None)


@contextlib.contextmanager
def idempotency_scope(key: str) -> Iterator[None]:
    """Make :func:`idempotency_key` return ``key`` inside the block (activity code that
    acts under its own key, e.g. the undo of an agent tool)."""
    token = _current_key.set(key)
    try:
        yield
    finally:
        _current_key.reset(token)


def idempotency_key() -> str:
    """The key under which the running call acts once: inside an ``@idempotent`` activity,
    or an agent tool declared with ``@tool(side_effect=True)`` (and its undo's call).
    Present it to the system you call (an ``Idempotency-Key`` header), so it too acts once
    per call.

    Raises:
        RuntimeError: called elsewhere (outside such an activity or tool).
    """
    key = _current_key.get()
    if key is None:
        raise RuntimeError(
            "idempotency_key() is for @idempotent activities and @tool(side_effect=True) "
            "tools; elsewhere use activity_idempotency_key(step)"
        )
    return key


class LedgerRecord(Protocol):
    """What :meth:`IdempotencyLedger.get` returns."""

    key: str
    status: str
    result: Any


class _Record:
    __slots__ = ("key", "result", "status")

    def __init__(self, key: str, status: str, result: Any) -> None:
        self.key, self.status, self.result = key, status, result

    def __repr__(self) -> str:
        return f"LedgerRecord(key={self.key!r}, status={self.status!r}, result={self.result!r})"


class IdempotencyLedger(ABC):
    """Base of the ledgers: the protocol is the same, the SQL dialect differs."""

    _placeholder = "?"

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """A write transaction on a connection of this thread; yields the connection."""

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._placeholder)

    # -- synchronous core (runs in a worker thread) --------------------------------------

    def _lock_key(self, conn: Any, key: str) -> None:  # noqa: B027 - optional hook
        """Take the per-key lock for the rest of the transaction. SQLite needs nothing:
        BEGIN IMMEDIATE already serializes writers; PostgreSQL takes an advisory lock."""

    def _run_once_sync(self, key: str, effect: Callable[[Any], T]) -> T:
        with self._transaction() as conn:
            self._lock_key(conn, key)
            row = conn.execute(
                self._sql("SELECT status, result FROM agenthub_ledger WHERE key = ?"), (key,)
            ).fetchone()
            if row is not None and row[0] == _DONE:
                return _decode(json.loads(row[1]), effect)  # type: ignore[no-any-return]
            result = effect(conn)
            recorded = _dump(result)
            self._upsert(conn, key, _DONE, recorded, None)
            # The caller gets what a later call gets: the record, decoded the same way.
            return _decode(json.loads(recorded), effect)  # type: ignore[no-any-return]

    def _upsert(
        self, conn: Any, key: str, status: str, result: str | None, lease: float | None
    ) -> None:
        conn.execute(
            self._sql(
                "INSERT INTO agenthub_ledger (key, status, result, lease_until) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET status = excluded.status, "
                "result = excluded.result, lease_until = excluded.lease_until"
            ),
            (key, status, result, lease),
        )

    def _claim_sync(self, key: str, lease_seconds: float) -> tuple[bool, Any]:
        """(True, None) when this attempt may act; (False, result) when it already happened."""
        now = time.time()
        with self._transaction() as conn:
            self._lock_key(conn, key)
            row = conn.execute(
                self._sql("SELECT status, result, lease_until FROM agenthub_ledger WHERE key = ?"),
                (key,),
            ).fetchone()
            if row is not None and row[0] == _DONE:
                return False, json.loads(row[1])
            if row is not None and row[0] == _RUNNING and (row[2] or 0) > now:
                remaining = row[2] - now
                # Retry when the claim can be taken over, not on the preset's backoff, which
                # could spend every attempt while a dead attempt's lease runs out.
                raise TransientFailure(
                    f"another attempt holds idempotency key {key!r} for {remaining:.0f}s more; "
                    "retrying then",
                    next_retry_delay=timedelta(seconds=remaining + 1),
                )
            self._upsert(conn, key, _RUNNING, None, now + lease_seconds)
            return True, None

    def _complete_sync(self, key: str, result: Any) -> None:
        with self._transaction() as conn:
            self._upsert(conn, key, _DONE, _dump(result), None)

    def _release_sync(self, key: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                self._sql("DELETE FROM agenthub_ledger WHERE key = ? AND status = ?"),
                (key, _RUNNING),
            )

    def _renew_sync(self, key: str, lease_seconds: float) -> None:
        with self._transaction() as conn:
            conn.execute(
                self._sql(
                    "UPDATE agenthub_ledger SET lease_until = ? WHERE key = ? AND status = ?"
                ),
                (time.time() + lease_seconds, key, _RUNNING),
            )

    def _get_sync(self, key: str) -> LedgerRecord | None:
        with self._transaction() as conn:
            row = conn.execute(
                self._sql("SELECT status, result FROM agenthub_ledger WHERE key = ?"), (key,)
            ).fetchone()
        if row is None:
            return None
        return _Record(key, row[0], json.loads(row[1]) if row[1] is not None else None)

    def upsert(self, conn: Any, table: str, row: dict[str, Any], key: Sequence[str]) -> None:
        """Insert ``row`` into ``table``, or update its non-key columns where ``key`` matches.

        For effects inside :meth:`run_once` (use the ``conn`` it passes): an upsert is
        idempotent by itself, so a repeated effect converges on the same row. ``table`` and
        column names are identifiers you choose, never user input.
        """
        for name in (table, *row):
            if not _IDENTIFIER.fullmatch(name):
                raise InvalidInput(f"upsert: {name!r} is not a plain SQL identifier")
        missing = [k for k in key if k not in row]
        if missing or not key:
            raise InvalidInput(f"upsert: key columns {missing or key} must be given in the row")
        columns = ", ".join(row)
        marks = ", ".join([self._placeholder] * len(row))
        updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in key)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        conn.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}) "
            f"ON CONFLICT ({', '.join(key)}) {action}",
            tuple(row.values()),
        )

    # -- async API --------------------------------------------------------------------------

    async def run_once(self, key: str, effect: Callable[[Any], T]) -> T:
        """Run ``effect(conn)`` once per ``key``, atomically with the record of its result.

        ``effect`` is synchronous and runs in a worker thread, inside the ledger's write
        transaction on ``conn`` (a DB-API connection to the ledger's database); its return
        value must be JSON-serializable. A key seen before returns the recorded result.
        """
        return await asyncio.to_thread(self._run_once_sync, key, effect)

    async def get(self, key: str) -> LedgerRecord | None:
        """The record of ``key``, or ``None``."""
        return await asyncio.to_thread(self._get_sync, key)

    async def claim(self, key: str, lease: timedelta) -> tuple[bool, Any]:
        """Claim ``key`` for one attempt; see :func:`idempotent`."""
        return await asyncio.to_thread(self._claim_sync, key, lease.total_seconds())

    async def complete(self, key: str, result: Any) -> None:
        """Record the result of a claimed key."""
        await asyncio.to_thread(self._complete_sync, key, result)

    async def release(self, key: str) -> None:
        """Drop a claim whose attempt failed, so the next attempt acts at once."""
        await asyncio.to_thread(self._release_sync, key)

    async def renew(self, key: str, lease: timedelta) -> None:
        """Extend a running claim to ``lease`` from now (its attempt is alive)."""
        await asyncio.to_thread(self._renew_sync, key, lease.total_seconds())


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS agenthub_ledger ("
    " key TEXT PRIMARY KEY, status TEXT NOT NULL, result TEXT, lease_until DOUBLE PRECISION)"
)


class SqliteLedger(IdempotencyLedger):
    """Ledger in a SQLite file (WAL mode); safe across threads and processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # Recorded results are workflow data: the file is the owner's alone.
            self.path.touch(mode=0o600)
        self._local = threading.local()
        with self._transaction() as conn:
            conn.execute(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=wal")
            conn.execute("PRAGMA synchronous=normal")
            self._local.conn = conn
        return conn

    @contextmanager
    def _transaction(self) -> Any:
        conn = self._connection()
        # IMMEDIATE takes the write lock up front: check-then-act cannot interleave.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


class PostgresLedger(IdempotencyLedger):
    """Ledger in PostgreSQL (``psycopg`` 3); per-key advisory locks serialize attempts."""

    _placeholder = "%s"

    def __init__(self, dsn: str) -> None:
        try:
            import psycopg  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise ConfigurationError(
                "a PostgreSQL ledger needs psycopg: pip install 'agenthub[postgres]'"
            ) from None
        self._psycopg = psycopg
        self.dsn = dsn
        self._local = threading.local()
        with self._transaction() as conn:
            conn.execute(_SCHEMA)

    @contextmanager
    def _transaction(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            # autocommit: conn.transaction() is then a real BEGIN/COMMIT, not a savepoint.
            conn = self._psycopg.connect(self.dsn, autocommit=True)
            self._local.conn = conn
        with conn.transaction():
            yield conn

    def _lock_key(self, conn: Any, key: str) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))


def open_ledger(location: str | Path) -> IdempotencyLedger:
    """A ledger for a ``postgresql://`` DSN, else a SQLite file path."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresLedger(text)
    return SqliteLedger(location)


def idempotent(
    step: str | None = None,
    *,
    ledger: IdempotencyLedger | Callable[[], IdempotencyLedger],
    key: Callable[..., str] | None = None,
    lease: timedelta | None = None,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Make an async activity act once per call, returning the recorded result after that.

    Put it under ``@activity.defn``. A call is identified by its workflow, ``step`` (default:
    the function name) and its arguments: ``<workflow id>/<step>/<digest of the arguments>``,
    so calls with other arguments act on their own (a loop, a fan-out), while a retry or a
    repeat of the same call returns the record. ``key`` gives a business key instead of the
    digest (``key=lambda order: order.id``); a key recorded for other arguments is refused
    with :class:`~agenthub.errors.InvalidInput`. Inside, :func:`idempotency_key` is the key
    to present to the system you call. Recorded results come back as the function's return
    type.

    ``ledger`` is a ledger or a function that returns one (called once, in the worker).
    ``lease`` is how long a claim of a crashed attempt blocks the next one; by default the
    activity's start-to-close timeout plus 30 s (5 minutes without one). A blocked attempt
    is retried when the lease ends (``next_retry_delay``), so no retry preset runs out first.

    Example::

        @activity.defn
        @idempotent(ledger=lambda: SqliteLedger(".agenthub/ledger.db"))
        async def send_invoice(order_id: str) -> str:
            return await mailer.send(order_id, idempotency_key=idempotency_key())
    """

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        name = step or fn.__name__
        resolved: list[IdempotencyLedger] = []

        def get_ledger() -> IdempotencyLedger:
            if not resolved:
                resolved.append(ledger if isinstance(ledger, IdempotencyLedger) else ledger())
            return resolved[0]

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            fingerprint = fingerprint_call(args, kwargs)
            business = key(*args, **kwargs) if key is not None else fingerprint
            full_key = activity_idempotency_key(name, str(business))
            return await act_once(
                get_ledger(), full_key, fingerprint, lambda: fn(*args, **kwargs), fn, lease=lease
            )

        return wrapper

    return decorate


async def act_once(
    book: IdempotencyLedger,
    full_key: str,
    fingerprint: str,
    call: Callable[[], Awaitable[T]],
    fn: Callable[..., Any],
    *,
    lease: timedelta | None = None,
    renew: bool = False,
) -> T:
    """Run ``call`` once for ``full_key`` (claim, act, record), or return the recorded result
    decoded as ``fn``'s return type. :func:`idempotency_key` is ``full_key`` meanwhile.
    Shared by :func:`idempotent` and agent tools with side effects (activity code).

    ``renew=True`` renews the claim every third of ``lease`` while ``call`` runs, so a short
    lease suffices however long the call takes, and a killed attempt's claim ends soon."""
    lease = lease or _default_lease()
    may_act, recorded = await book.claim(full_key, lease)
    if not may_act:
        return _recorded_result(recorded, fingerprint, full_key, fn)  # type: ignore[no-any-return]
    token = _current_key.set(full_key)
    renewing = asyncio.ensure_future(_renew(book, full_key, lease)) if renew else None
    try:
        result = await call()
    except BaseException:
        await asyncio.shield(book.release(full_key))
        raise
    finally:
        _current_key.reset(token)
        if renewing is not None:
            renewing.cancel()
    await book.complete(full_key, {"arguments": fingerprint, "result": result})
    return result


async def _renew(book: IdempotencyLedger, key: str, lease: timedelta) -> None:
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        try:
            await book.renew(key, lease)
        except Exception as err:  # the claim stands until its lease ends; the call goes on
            activity.logger.warning("could not renew the claim of %s: %s", key, err)


def _default_lease() -> timedelta:
    timeout = activity.info().start_to_close_timeout
    return timeout + timedelta(seconds=30) if timeout else timedelta(minutes=5)


def _recorded_result(recorded: Any, fingerprint: str, key: str, fn: Callable[..., Any]) -> Any:
    if isinstance(recorded, dict) and set(recorded) == {"arguments", "result"}:
        if recorded["arguments"] != fingerprint:
            raise InvalidInput(
                f"idempotency key {key!r} was recorded for other arguments; make key= give "
                "each distinct call its own key"
            )
        recorded = recorded["result"]
    activity.logger.info("idempotency key %s already done; returning record", key)
    return _decode(recorded, fn)
