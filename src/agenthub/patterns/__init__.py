"""Workflow and activity building blocks with no agent knowledge.

Example::

    from agenthub.patterns import Saga, retry
"""

from agenthub.patterns import retry
from agenthub.patterns.idempotency import activity_idempotency_key, workflow_idempotency_key
from agenthub.patterns.saga import CompensationProgress, Saga, SagaProgress, saga_progress

__all__ = [
    "CompensationProgress",
    "Saga",
    "SagaProgress",
    "activity_idempotency_key",
    "retry",
    "saga_progress",
    "workflow_idempotency_key",
]
