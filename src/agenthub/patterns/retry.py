"""Retry policy presets that never retry what retrying cannot fix.

Every preset lists :data:`agenthub.errors.NON_RETRYABLE_ERROR_TYPES`, so raising
:class:`~agenthub.errors.InvalidInput`, :class:`~agenthub.errors.BusinessRuleViolation` or
:class:`~agenthub.errors.PermanentFailure` from an activity fails it at once, while
:class:`~agenthub.errors.TransientFailure` and ordinary exceptions are retried.

Which preset to use:

============================  ============================================================
``DEFAULT``                   most activities: 1 s, doubling to 1 min, 10 attempts
``EXTERNAL_API``              third-party HTTP/LLM APIs with rate limits: 2 s, doubling to
                              5 min, 20 attempts (a ``TransientFailure`` carrying
                              ``Retry-After`` overrides the wait)
``DATABASE``                  short blips (locks, failover): 100 ms, x1.5 to 5 s, 30 attempts
``PAYMENT_NEVER_TWICE``       effects that must not repeat and have no idempotency key:
                              one attempt only; the workflow decides what to do on failure
``COMPENSATION``              saga undos: retried with backoff until they succeed
============================  ============================================================

The presets are new objects on every access of :func:`preset`, so changing one never
changes another workflow's policy.

Example::

    from agenthub.patterns import retry

    await workflow.execute_activity(
        call_llm, prompt,
        start_to_close_timeout=timedelta(minutes=2),
        retry_policy=retry.preset("EXTERNAL_API"),
    )
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Literal

from temporalio.common import RetryPolicy

from agenthub.errors import NON_RETRYABLE_ERROR_TYPES, ConfigurationError

__all__ = [
    "COMPENSATION",
    "DATABASE",
    "DEFAULT",
    "EXTERNAL_API",
    "PAYMENT_NEVER_TWICE",
    "PresetName",
    "preset",
]

PresetName = Literal["DEFAULT", "EXTERNAL_API", "DATABASE", "PAYMENT_NEVER_TWICE", "COMPENSATION"]

_NON_RETRYABLE = list(NON_RETRYABLE_ERROR_TYPES)

DEFAULT = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
    non_retryable_error_types=_NON_RETRYABLE,
)
EXTERNAL_API = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=20,
    non_retryable_error_types=_NON_RETRYABLE,
)
DATABASE = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    backoff_coefficient=1.5,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=30,
    non_retryable_error_types=_NON_RETRYABLE,
)
PAYMENT_NEVER_TWICE = RetryPolicy(maximum_attempts=1, non_retryable_error_types=_NON_RETRYABLE)
COMPENSATION = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,  # unlimited: an undo that gives up leaves the world inconsistent
    non_retryable_error_types=_NON_RETRYABLE,
)

_PRESETS: dict[str, RetryPolicy] = {
    "DEFAULT": DEFAULT,
    "EXTERNAL_API": EXTERNAL_API,
    "DATABASE": DATABASE,
    "PAYMENT_NEVER_TWICE": PAYMENT_NEVER_TWICE,
    "COMPENSATION": COMPENSATION,
}


def preset(name: PresetName, **changes: object) -> RetryPolicy:
    """A fresh copy of a preset, optionally with fields changed.

    Raises:
        ConfigurationError: unknown preset or field name.
    """
    try:
        base = _PRESETS[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown retry preset {name!r}; choose one of {', '.join(_PRESETS)}"
        ) from None
    copy = dataclasses.replace(base, non_retryable_error_types=list(_NON_RETRYABLE))
    try:
        return dataclasses.replace(copy, **changes)  # type: ignore[arg-type]
    except TypeError as err:
        raise ConfigurationError(f"retry preset {name}: {err}") from None
