"""The error taxonomy and retry presets, as plain values (their behaviour in workflows is
covered by the saga tests)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agenthub.errors import (
    NON_RETRYABLE_ERROR_TYPES,
    BusinessRuleViolation,
    ConfigurationError,
    InvalidInput,
    PermanentFailure,
    TransientFailure,
    classify_http_status,
)
from agenthub.patterns import retry


@pytest.mark.parametrize(
    ("cls", "non_retryable"),
    [
        (InvalidInput, True),
        (BusinessRuleViolation, True),
        (PermanentFailure, True),
        (TransientFailure, False),
    ],
)
def test_taxonomy_types_are_stable(cls: type, non_retryable: bool) -> None:
    err = cls("boom")
    assert err.type == cls.__name__
    assert err.non_retryable is non_retryable
    assert (cls.__name__ in NON_RETRYABLE_ERROR_TYPES) is non_retryable


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidInput),
        (422, InvalidInput),
        (401, PermanentFailure),
        (403, PermanentFailure),
        (404, PermanentFailure),
        (408, TransientFailure),
        (429, TransientFailure),
        (500, TransientFailure),
        (503, TransientFailure),
    ],
)
def test_http_status_classification(status: int, expected: type) -> None:
    assert type(classify_http_status(status, "body")) is expected


def test_retry_after_becomes_next_retry_delay() -> None:
    err = classify_http_status(429, retry_after="7")
    assert err.next_retry_delay == timedelta(seconds=7)
    assert (
        classify_http_status(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT").next_retry_delay
        is None
    )
    with pytest.raises(ConfigurationError, match="200, which is not an error status"):
        classify_http_status(200)


def test_presets_cover_the_taxonomy_and_are_copies() -> None:
    for name in ("DEFAULT", "EXTERNAL_API", "DATABASE", "PAYMENT_NEVER_TWICE", "COMPENSATION"):
        policy = retry.preset(name)  # type: ignore[arg-type]
        assert set(NON_RETRYABLE_ERROR_TYPES) <= set(policy.non_retryable_error_types or [])
    assert retry.preset("COMPENSATION").maximum_attempts == 0  # until it succeeds
    assert retry.preset("PAYMENT_NEVER_TWICE").maximum_attempts == 1
    mine = retry.preset("DEFAULT", maximum_attempts=3)
    assert mine.maximum_attempts == 3 and retry.DEFAULT.maximum_attempts == 10
    mine.non_retryable_error_types.append("Mine")  # type: ignore[union-attr]
    assert "Mine" not in (retry.DEFAULT.non_retryable_error_types or [])


def test_preset_errors_name_the_mistake() -> None:
    with pytest.raises(ConfigurationError, match="unknown retry preset 'FAST'; choose one of"):
        retry.preset("FAST")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="maximum_atempts"):
        retry.preset("DEFAULT", maximum_atempts=3)
