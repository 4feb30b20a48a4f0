"""Workflow and activity building blocks with no agent knowledge."""

from agenthub.patterns import retry
from agenthub.patterns.saga import CompensationProgress, Saga, SagaProgress, saga_progress

__all__ = ["CompensationProgress", "Saga", "SagaProgress", "retry", "saga_progress"]
