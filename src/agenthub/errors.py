"""Every error agenthub raises, in one place.

Two families live here:

* Errors of agenthub's own machinery (configuration, the embedded server, connecting),
  raised in ordinary Python code::

    AgentHubError
    ├── ConfigurationError      a setting or argument is wrong; the message says which
    ├── BinaryNotFoundError     a Temporal binary shipped by a pip package is missing
    ├── ServerStartError        the embedded server did not come up
    │   └── PortInUseError      the port is held by something that is not Temporal
    ├── ConnectionFailedError   no Temporal frontend answers at the configured address
    ├── WorkerUnavailable       a workflow did not answer: no worker polls its task queue
    ├── WorkflowBusy            429: too many requests wait on one workflow; retry later
    ├── SagaError               a Saga was used wrongly (see agenthub.patterns.saga)
    ├── CallbackError           a callback completion was refused; ``status`` is its HTTP code
    │   ├── InvalidCallbackToken    401: malformed, forged or tampered token
    │   │   └── CallbackRevoked     401: the token was revoked
    │   ├── CallbackNotFound        404: no such callback pending in that workflow
    │   ├── CallbackAlreadyCompleted 409: the token was used already
    │   ├── InvalidCallbackData     422: the data is not JSON, too big, or cannot be encoded
    │   │   └── CallbackBodyTooLarge 413: the request body passes the API's limit
    │   └── CallbackExpired         410: past its expiry or its wait timed out
    └── HubError                a hub request was refused; ``status`` is its HTTP code
        ├── TaskNotFound        404: no such task in the caller's tenant
        │   └── ScheduleNotFound    404: no such schedule in the caller's tenant
        ├── WebhookNotFound     404: no webhook of that name on the hub
        ├── UnknownAgent        422: no agent of that name runs on the hub
        ├── TaskConflict        409: the task id is taken by a different request
        ├── TaskFinished        409: the task is closed already (nothing to cancel)
        ├── SessionBusy         409: the session still answers a message (double_texting = "reject")
        ├── ForkRefused         422: a fork cannot start there (step, tool, running original)
        ├── InvalidCassette     422: a cassette file is not valid; ``problems`` lists each
        ├── CrossOriginRefused  403: a console change did not come from the console's pages
        └── BodyTooLarge        413: a console form or a webhook passes the body limit

* The failure taxonomy for activities and workflows, as
  :class:`temporalio.exceptions.ApplicationError` subclasses whose ``type`` is stable, so
  retry policies can name them in ``non_retryable_error_types``::

    ApplicationError
    ├── InvalidInput            (non-retryable) the caller sent something unusable
    ├── BusinessRuleViolation   (non-retryable) the request breaks a rule of the domain
    ├── PermanentFailure        (non-retryable) retrying cannot help
    ├── TransientFailure        (retryable) try again, maybe after ``next_retry_delay``
    ├── CompensationFailed      (non-retryable) one or more saga undos failed
    ├── CallbackTimeout         (non-retryable) a callback was not answered in time
    ├── PayloadTooLarge         (non-retryable) a value is too big to travel inline
    ├── FanOutFailed            (non-retryable) a fan-out's failure policy tripped
    └── EntityContinuingAsNew   (retryable) an entity is moving to a new run; send again

Example::

    from agenthub.errors import InvalidInput

    @activity.defn
    async def charge(amount_cents: int) -> str:
        if amount_cents <= 0:
            raise InvalidInput(f"amount_cents must be > 0, got {amount_cents}")
        return await payments.charge(amount_cents)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.exceptions import ApplicationError

__all__ = [
    "NON_RETRYABLE_ERROR_TYPES",
    "AgentHubError",
    "BinaryNotFoundError",
    "BodyTooLarge",
    "BusinessRuleViolation",
    "CallbackAlreadyCompleted",
    "CallbackBodyTooLarge",
    "CallbackError",
    "CallbackExpired",
    "CallbackNotFound",
    "CallbackRevoked",
    "CallbackTimeout",
    "CompensationFailed",
    "ConfigurationError",
    "ConnectionFailedError",
    "CrossOriginRefused",
    "EntityContinuingAsNew",
    "FailedCompensation",
    "FanOutFailed",
    "ForkRefused",
    "HubError",
    "InvalidCallbackData",
    "InvalidCallbackToken",
    "InvalidCassette",
    "InvalidInput",
    "PayloadTooLarge",
    "PermanentFailure",
    "PortInUseError",
    "SagaError",
    "ScheduleNotFound",
    "ServerStartError",
    "SessionBusy",
    "TaskConflict",
    "TaskFinished",
    "TaskNotFound",
    "TransientFailure",
    "UnknownAgent",
    "WebhookNotFound",
    "WorkerUnavailable",
    "WorkflowBusy",
    "classify_http_status",
]


class AgentHubError(Exception):
    """Base of the errors raised by agenthub's own machinery."""


class ConfigurationError(AgentHubError, ValueError):
    """A setting or argument is invalid; the message names it and a valid value."""


class BinaryNotFoundError(AgentHubError, FileNotFoundError):
    """A Temporal binary that a pip package ships is not installed."""


class ServerStartError(AgentHubError, RuntimeError):
    """The embedded Temporal server could not be started."""


class PortInUseError(ServerStartError):
    """The server port is taken by a process that is not a Temporal server."""


class ConnectionFailedError(AgentHubError, ConnectionError):
    """No Temporal frontend answered at the configured address."""


class WorkerUnavailable(AgentHubError):
    """A workflow did not answer in time: no worker polls its task queue. ``status`` is 503."""

    status = 503


class WorkflowBusy(AgentHubError):
    """Too many requests are in flight to one workflow (the server takes 10 updates at a
    time per workflow); nothing was sent. ``status`` is 429; retry after ``retry_after``
    seconds."""

    status = 429
    retry_after = 1


class SagaError(AgentHubError, TypeError):
    """A :class:`~agenthub.patterns.saga.Saga` was used wrongly (bad compensation, no workflow)."""


class CallbackError(AgentHubError):
    """A callback completion was refused; nothing changed. ``status`` is the HTTP code;
    ``standing`` is what completed the callback, when a workflow reported it (409)."""

    status = 400
    standing: Any = None


class InvalidCallbackToken(CallbackError):
    """The token is malformed or its signature matches no known secret."""

    status = 401


class CallbackRevoked(InvalidCallbackToken):
    """The token was revoked (``agenthub callback revoke``); its callback may still wait
    for another token."""


class CallbackNotFound(CallbackError):
    """The token's callback is not pending in its workflow (or the workflow is closed)."""

    status = 404


class CallbackAlreadyCompleted(CallbackError):
    """The callback was completed already: tokens are single-use."""

    status = 409


class InvalidCallbackData(CallbackError):
    """The completion's data is not JSON, too big, or cannot be encoded; the token stays
    usable."""

    status = 422


class CallbackBodyTooLarge(InvalidCallbackData):
    """The request body passes the API's limit (``AGENTHUB_API_MAX_BODY``)."""

    status = 413


class CallbackExpired(CallbackError):
    """The token is past its expiry, or the workflow stopped waiting."""

    status = 410


class HubError(AgentHubError):
    """A hub request (task, session) was refused; nothing was started or changed.
    ``status`` is the HTTP code."""

    status = 400


class TaskNotFound(HubError):
    """No task of that id in the caller's tenant (another tenant's tasks are not found)."""

    status = 404


class ScheduleNotFound(TaskNotFound):
    """No schedule of that name in the caller's tenant."""


class WebhookNotFound(HubError):
    """No webhook of that name on the hub (``[webhooks.NAME]`` declares one)."""

    status = 404


class UnknownAgent(HubError):
    """No agent (or team) of that name runs on the hub."""

    status = 422


class TaskConflict(HubError):
    """The task id was used already with a different agent, goal or limits."""

    status = 409


class TaskFinished(HubError):
    """The task is closed already: there is nothing to cancel."""

    status = 409


class SessionBusy(HubError):
    """The session still answers an earlier message and its agent says ``double_texting =
    "reject"``: send again once the reply came; nothing was sent."""

    status = 409


class ForkRefused(HubError):
    """A fork cannot start at that step: out of range, the answer, not finished yet, or its
    agent lost a tool the replayed steps called. Nothing was started."""

    status = 422


class InvalidCassette(HubError):
    """A cassette (an exported task) does not match its schema; ``problems`` lists every
    problem, each with where it is (``messages.3.parts.0``) and what is wrong."""

    status = 422

    def __init__(self, source: str, problems: list[str]) -> None:
        shown = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{source} is not a valid cassette ({len(problems)} problems):\n"
                         f"{shown}{more}")  # fmt: skip
        self.problems = problems


class CrossOriginRefused(HubError):
    """A state-changing console request did not come from the console's own origin (a
    forged post from another site); nothing changed."""

    status = 403


class BodyTooLarge(HubError):
    """A console form or a webhook's body is larger than the API's body limit
    (``AGENTHUB_API_MAX_BODY``); nothing more was read and nothing changed."""

    status = 413


class _TaxonomyError(ApplicationError):
    """Shared constructor: the ``type`` is the class name, retryability is fixed per class."""

    _non_retryable = True

    def __init__(
        self,
        message: str,
        *details: Any,
        next_retry_delay: timedelta | None = None,
    ) -> None:
        super().__init__(
            message,
            *details,
            type=type(self).__name__,
            non_retryable=self._non_retryable,
            next_retry_delay=next_retry_delay,
        )


class InvalidInput(_TaxonomyError):
    """The input cannot be used; fix the caller. Never retried."""


class BusinessRuleViolation(_TaxonomyError):
    """Well-formed input that breaks a rule of the domain (e.g. overdraft). Never retried."""


class PermanentFailure(_TaxonomyError):
    """The operation failed in a way retrying cannot fix (e.g. HTTP 404). Never retried."""


class TransientFailure(_TaxonomyError):
    """A temporary failure (timeout, 429, 5xx); retried, after ``next_retry_delay`` if given."""

    _non_retryable = False


class CallbackTimeout(_TaxonomyError):
    """Nothing completed a callback within its timeout."""


class PayloadTooLarge(_TaxonomyError):
    """A value's payload passes the size limit; the message names it, its size and the limit.

    The details carry ``{"size": bytes, "limit": bytes}``.
    """

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message, {"size": size, "limit": limit})


@dataclass(frozen=True)
class FailedCompensation:
    """One saga undo that failed: which compensation, and why."""

    name: str
    """The compensation's name (activity type or function name)."""
    error_type: str
    """The failure's type (``ApplicationError.type`` or the exception class name)."""
    message: str
    """The failure's message."""


class CompensationFailed(_TaxonomyError):
    """One or more saga compensations failed; ``failures`` lists every one with its cause.

    The details carry the same list, so the failure survives serialization across workflows.
    """

    def __init__(self, failures: Sequence[FailedCompensation], original: str | None = None):
        self.failures = list(failures)
        self.original = original
        listed = "; ".join(f"{f.name}: {f.error_type}: {f.message}" for f in self.failures)
        prefix = f"saga failed ({original}) and " if original else ""
        super().__init__(
            f"{prefix}{len(self.failures)} compensation(s) failed: {listed}",
            [{"name": f.name, "error_type": f.error_type, "message": f.message} for f in failures],
        )


class FanOutFailed(_TaxonomyError):
    """A fan-out's failure policy tripped; the message names the first failed item, the
    details list each failure (``index``, ``error_type``, ``message``)."""


class EntityContinuingAsNew(_TaxonomyError):
    """An entity turned a message away while moving to a new run; send it again (the
    ``EntityClient`` does, with the same message id)."""

    _non_retryable = False


def _taxonomy(cls: type[_TaxonomyError]) -> list[type[_TaxonomyError]]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_taxonomy(sub))]


NON_RETRYABLE_ERROR_TYPES: tuple[str, ...] = tuple(
    c.__name__ for c in _taxonomy(_TaxonomyError) if c._non_retryable
)
"""The ``type`` names that retry presets never retry: every error class above that is
non-retryable (derived from the classes, so a new one cannot be forgotten)."""

_PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 410, 422})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})


def classify_http_status(
    status: int,
    message: str = "",
    *,
    retry_after: str | float | None = None,
) -> ApplicationError:
    """Map an HTTP status to the taxonomy, to ``raise`` from an activity.

    400 and 422 are :class:`InvalidInput`; 401/403/404/405/409/410 are
    :class:`PermanentFailure`; 408/425/429 and 5xx are :class:`TransientFailure`, with
    ``Retry-After`` (seconds) honoured as ``next_retry_delay``. Other statuses are permanent.

    Example::

        resp = await http.post(url, json=body)
        if resp.status_code >= 400:
            raise classify_http_status(
                resp.status_code, resp.text, retry_after=resp.headers.get("Retry-After")
            )
    """
    text = f"HTTP {status}" + (f": {message}" if message else "")
    if status in (400, 422):
        return InvalidInput(text)
    if status in _TRANSIENT_STATUSES or 500 <= status <= 599:
        return TransientFailure(text, next_retry_delay=_parse_retry_after(retry_after))
    if status in _PERMANENT_STATUSES or 300 <= status <= 499:
        return PermanentFailure(text)
    raise ConfigurationError(f"classify_http_status got {status}, which is not an error status")


def _parse_retry_after(value: str | float | None) -> timedelta | None:
    # Only the delta-seconds form; an HTTP date is rare for APIs and ignored (backoff applies).
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return timedelta(seconds=seconds) if seconds >= 0 else None
