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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agenthub.errors import (
    CallbackAlreadyCompleted,
    CallbackError,
    CallbackExpired,
    CallbackNotFound,
    CallbackRevoked,
    CallbackTimeout,
    ConfigurationError,
    InvalidCallbackData,
    InvalidCallbackToken,
    WorkerUnavailable,
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

CALLBACK_UPDATE = "agenthub.callback"
"""Name of the update that completes a callback."""

CALLBACK_REVOKE_UPDATE = "agenthub.callback.revoke"
"""Name of the update that revokes one token of a pending callback."""

DEFAULT_TOKEN_TTL = timedelta(days=7)
"""A token expires at the end of its wait or this long after it is minted, whichever is
first; pass ``ttl=`` to :meth:`CallbackRequest.token` for another lifetime."""

_RAISE: Any = object()


# --- secrets and tokens (plain Python, used by activities, the API and the CLI) ------------


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


@dataclass
class CallbackCompletion:
    """The argument of the completion update."""

    callback_id: str
    name: str
    data: Any = None
    token_id: str = ""
    """:func:`token_id` of the token that carried it; a revoked one is refused."""


@dataclass
class _Revocation:
    callback_id: str
    token_id: str


# --- workflow side ----------------------------------------------------------------------


@dataclass
class _Callbacks:
    pending: dict[str, str] = field(default_factory=dict)  # callback id -> name
    results: dict[str, Any] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    standing: dict[str, Any] = field(default_factory=dict)
    """Data of completed callbacks (small ones): a refused second completion names it."""
    expired: set[str] = field(default_factory=set)
    checks: dict[str, Callable[[Any], None]] = field(default_factory=dict)  # id -> validate
    revoked: set[str] = field(default_factory=set)  # token ids


_STANDING_LIMIT = 4096
"""Largest completion (its ``repr``) a workflow keeps to report with a refused second one."""


def _state() -> _Callbacks:
    instance = workflow.instance()
    state: _Callbacks | None = getattr(instance, "_agenthub_callbacks", None)
    if state is None:
        state = _Callbacks()
        instance._agenthub_callbacks = state

        def refuse_unless_pending(cid: str, name: str | None) -> None:
            if cid in state.used:
                # The data that stands travels with the refusal (a second approver sees
                # the decision that won).
                raise ApplicationError(
                    "callback already completed",
                    state.standing.get(cid),
                    type=CallbackAlreadyCompleted.__name__,
                )
            if cid in state.expired:
                raise ApplicationError("callback timed out", type=CallbackExpired.__name__)
            if cid not in state.pending or name not in (None, state.pending[cid]):
                raise ApplicationError("no such callback pending", type=CallbackNotFound.__name__)

        def validate(completion: CallbackCompletion) -> None:
            cid = completion.callback_id
            refuse_unless_pending(cid, completion.name)
            if completion.token_id in state.revoked:
                raise ApplicationError("the token was revoked", type=CallbackRevoked.__name__)
            check = state.checks.get(cid)
            if check is not None:
                try:
                    check(completion.data)
                except Exception as err:  # refused before acceptance: no history, still waiting
                    message = err.message if isinstance(err, ApplicationError) else str(err)
                    raise ApplicationError(
                        message or "the data was refused", type=InvalidCallbackData.__name__
                    ) from None

        def complete(completion: CallbackCompletion) -> str:
            state.used.add(completion.callback_id)
            state.results[completion.callback_id] = completion.data
            if len(repr(completion.data)) <= _STANDING_LIMIT:
                state.standing[completion.callback_id] = completion.data
            state.pending.pop(completion.callback_id, None)
            state.checks.pop(completion.callback_id, None)
            return "accepted"

        def validate_revocation(revocation: _Revocation) -> None:
            refuse_unless_pending(revocation.callback_id, None)

        def revoke(revocation: _Revocation) -> str:
            state.revoked.add(revocation.token_id)
            return "revoked"

        workflow.set_update_handler(CALLBACK_UPDATE, complete, validator=validate)
        workflow.set_update_handler(CALLBACK_REVOKE_UPDATE, revoke, validator=validate_revocation)
    return state


async def wait_for_callback(
    name: str,
    *,
    timeout: timedelta,
    request: Callable[..., Any] | str | None = None,
    payload: Any = None,
    default: Any = _RAISE,
    request_timeout: timedelta = timedelta(minutes=1),
    request_retry_policy: Any = None,
    callback_id: str | None = None,
    validate: Callable[[Any], None] | None = None,
) -> Any:
    """Run ``request`` with a :class:`CallbackRequest`, then wait for the completion's data.

    Args:
        name: what is awaited (part of the token; several callbacks may wait at once).
        timeout: how long to wait, durably (a 7-day timeout survives restarts).
        request: the activity that sends the request (it gets a :class:`CallbackRequest`);
            ``None`` when the token is delivered another way (e.g. read by a query).
        payload: passed to the request activity in ``CallbackRequest.payload``.
        default: returned on timeout; without it a :class:`CallbackTimeout` is raised.
        callback_id: the id to use (unique in the workflow); default ``workflow.uuid4()``.
        validate: checks the completion's data in the update's validator (deterministic, no
            I/O); raising refuses the completion before it is accepted (HTTP 422, nothing
            recorded, the callback still pending).

    Raises:
        CallbackTimeout: (non-retryable) nothing came within ``timeout``.
    """
    state = _state()
    info = workflow.info()
    callback_id = callback_id or str(workflow.uuid4())
    expires_at = workflow.now() + timeout
    state.pending[callback_id] = name
    if validate is not None:
        state.checks[callback_id] = validate
    req = CallbackRequest(info.workflow_id, name, callback_id, expires_at, payload, info.run_id)
    if request is not None:
        from agenthub.patterns import retry

        await workflow.execute_activity(
            request,
            req,
            start_to_close_timeout=request_timeout,
            retry_policy=request_retry_policy or retry.preset("EXTERNAL_API"),
        )
    try:
        await workflow.wait_condition(lambda: callback_id in state.results, timeout=timeout)
    except TimeoutError:
        state.pending.pop(callback_id, None)
        state.expired.add(callback_id)
        if default is not _RAISE:
            return default
        raise CallbackTimeout(f"no answer to callback {name!r} within {timeout}") from None
    return state.results.pop(callback_id)


# --- completing (client side: API, CLI, your code) ---------------------------------------

_ERRORS: dict[str, type[CallbackError]] = {
    cls.__name__: cls
    for cls in (
        CallbackAlreadyCompleted,
        CallbackExpired,
        CallbackNotFound,
        CallbackRevoked,
        InvalidCallbackData,
    )
}


MAX_DATA_DEPTH = 128
"""Deepest nesting of a completion's data: the workers' JSON decoder stops at 200 levels
for the whole update, so deeper data would be refused only after it was sent."""


def _nesting_depth(value: Any, limit: int) -> int:
    """How deeply lists and dicts nest in ``value`` (iterative; stops past ``limit``)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def completion_update_id(completion: CallbackCompletion) -> str:
    """The update id of a completion: the same completion sent twice is one update, so a
    resend (after a timeout, or a webhook retried by its sender) reports the first outcome
    instead of applying twice or being refused as used; other data is another update."""
    body = json.dumps(
        {"name": completion.name, "data": completion.data}, sort_keys=True, default=repr
    )
    digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{CALLBACK_UPDATE}:{completion.callback_id}:{digest}"


async def _send(
    client: Client,
    workflow_id: str,
    run_id: str,
    update: str,
    arg: Any,
    *,
    update_id: str,
    timeout: float,
    what: str,
    noun: str,
) -> None:
    """Send a callback update, turning refusals into :class:`CallbackError`."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id or None)
    try:
        await handle.execute_update(
            update, arg, id=update_id, rpc_timeout=timedelta(seconds=timeout)
        )
    except (RecursionError, ValueError, TypeError, UnicodeError) as err:
        # The data could not be encoded (too deep, a lone surrogate ...): nothing was sent.
        raise InvalidCallbackData(
            f"{what}: the data cannot be encoded ({type(err).__name__}: {str(err)[:200]}); "
            "send plain JSON"
        ) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise WorkerUnavailable(
            f"workflow {workflow_id!r} did not confirm the {noun} within {timeout:.0f}s: is a "
            "worker running on its task queue? The server keeps it until a worker takes it; "
            f"send the same {noun} again to see the outcome."
        ) from None
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in _ERRORS:
            refusal = _ERRORS[cause.type](f"{what}: {cause.message}")
            if cause.details:
                refusal.standing = cause.details[0]
            raise refusal from None
        if isinstance(cause, ApplicationError) and "Failed decoding arguments" in cause.message:
            # The worker could not read what the client could write: refused, not recorded.
            raise InvalidCallbackData(f"{what}: the worker cannot decode the data") from None
        if isinstance(cause, ApplicationError) and "expected but not found" in cause.message:
            # The id names a workflow that is not waiting on any callback (another type).
            raise CallbackNotFound(
                f"workflow {workflow_id!r} has no callback waiting (it has no {update} handler)"
            ) from None
        raise
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        run = f" (run {run_id})" if run_id else ""
        if isinstance(arg, CallbackCompletion):
            # The run has ended: if this callback was completed in it, the answer is the
            # same 409 as while it ran, whoever asks and however late.
            found = await _completion_in_history(client, handle, arg.callback_id)
            if found is not _MISSING and update == CALLBACK_UPDATE and found == arg.data:
                return  # the same completion again: its outcome stands, as while it ran
            if found is not _MISSING:
                refusal = CallbackAlreadyCompleted(
                    f"{what}: callback already completed (workflow {workflow_id!r}{run} has "
                    "ended since)"
                )
                refusal.standing = found
                raise refusal from None
        raise CallbackNotFound(
            f"workflow {workflow_id!r}{run} is not running; its callbacks are closed"
        ) from None


_MISSING: Any = object()


async def _completion_in_history(client: Client, handle: Any, callback_id: str) -> Any:
    """The data that completed ``callback_id`` in the closed run of ``handle`` (read from
    its accepted updates), or ``_MISSING``."""
    try:
        async for event in handle.fetch_history_events():
            if not event.HasField("workflow_execution_update_accepted_event_attributes"):
                continue
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name != CALLBACK_UPDATE or not request.input.args.payloads:
                continue
            [completion] = await client.data_converter.decode(
                [request.input.args.payloads[0]], [CallbackCompletion]
            )
            if completion.callback_id == callback_id:
                return completion.data
    except RPCError:
        pass  # no history to read (never existed, or deleted by retention)
    return _MISSING


async def deliver_completion(
    client: Client,
    workflow_id: str,
    completion: CallbackCompletion,
    *,
    run_id: str = "",
    timeout: float = 30.0,
    update_id: str | None = None,
) -> None:
    """Send a completion to ``workflow_id`` (``run_id``: only that run), for trusted
    callers: the token is already checked, or the caller has server credentials.

    ``update_id`` defaults to :func:`completion_update_id` (the same completion sent again
    reports the first outcome); a fresh id per sender makes every later sender, with the
    same data or not, get :class:`CallbackAlreadyCompleted` (approvals do this).

    Raises:
        CallbackNotFound (404), CallbackAlreadyCompleted (409, its ``standing`` is the data
        that completed it), CallbackExpired (410), CallbackRevoked (401),
        InvalidCallbackData (422).
        WorkerUnavailable (503): no worker confirmed the completion within ``timeout``
            seconds. The server keeps it and it applies when the workflow's worker takes
            it (unless the server restarts first); sending the same completion again is
            safe and reports the outcome.
    """
    if _nesting_depth(completion.data, MAX_DATA_DEPTH) > MAX_DATA_DEPTH:
        raise InvalidCallbackData(
            f"callback {completion.name!r}: the data nests more than {MAX_DATA_DEPTH} levels "
            "deep; send flatter JSON"
        )
    await _send(
        client,
        workflow_id,
        run_id,
        CALLBACK_UPDATE,
        completion,
        update_id=update_id or completion_update_id(completion),
        timeout=timeout,
        what=f"callback {completion.name!r}",
        noun="completion",
    )


async def complete_callback(
    client: Client, token: str, data: Any, *, secrets: Sequence[str], timeout: float = 30.0
) -> CallbackClaims:
    """Verify ``token`` and deliver ``data`` to the waiting workflow run.

    Raises:
        InvalidCallbackToken (401), CallbackRevoked (401), CallbackNotFound (404),
        CallbackAlreadyCompleted (409), CallbackExpired (410), InvalidCallbackData (422):
        nothing was delivered.
    """
    claims = verify_token(token, secrets)
    completion = CallbackCompletion(claims.callback_id, claims.name, data, token_id(token))
    await deliver_completion(
        client, claims.workflow_id, completion, run_id=claims.run_id, timeout=timeout
    )
    return claims


async def revoke_callback_token(
    client: Client, token: str, *, secrets: Sequence[str], timeout: float = 30.0
) -> CallbackClaims:
    """Revoke ``token``: its waiting workflow refuses it from now on (a leaked link).

    The callback stays pending; another token for it (minted by the workflow's request
    activity) still completes it. Revoking twice is harmless.

    Raises:
        InvalidCallbackToken (401), CallbackExpired (410): the token is not a live one.
        CallbackNotFound (404), CallbackAlreadyCompleted (409): nothing is left to revoke.
    """
    claims = verify_token(token, secrets)
    tid = token_id(token)
    await _send(
        client,
        claims.workflow_id,
        claims.run_id,
        CALLBACK_REVOKE_UPDATE,
        _Revocation(claims.callback_id, tid),
        update_id=f"{CALLBACK_REVOKE_UPDATE}:{tid}",
        timeout=timeout,
        what=f"callback {claims.name!r}",
        noun="revocation",
    )
    return claims
