"""Workflow and activity building blocks with no agent knowledge.

Example::

    from agenthub.patterns import Saga, retry
"""

from agenthub.patterns import retry
from agenthub.patterns.callbacks import (
    CallbackRequest,
    complete_callback,
    wait_for_callback,
)
from agenthub.patterns.entity import (
    Entity,
    EntityClient,
    EntityConfig,
    EntityStart,
    entity_signal,
    entity_update,
)
from agenthub.patterns.fanout import (
    CollectErrors,
    FailFast,
    FanOutProgress,
    FanOutResult,
    ItemPages,
    ItemRange,
    Reduce,
    Tolerate,
    fan_out,
    fan_out_progress,
    reducer,
)
from agenthub.patterns.heartbeat import Heartbeat
from agenthub.patterns.idempotency import activity_idempotency_key, workflow_idempotency_key
from agenthub.patterns.ledger import (
    IdempotencyLedger,
    PostgresLedger,
    SqliteLedger,
    idempotency_key,
    idempotent,
    open_ledger,
)
from agenthub.patterns.saga import CompensationProgress, Saga, SagaProgress, saga_progress

__all__ = [
    "CallbackRequest",
    "CollectErrors",
    "CompensationProgress",
    "Entity",
    "EntityClient",
    "EntityConfig",
    "EntityStart",
    "FailFast",
    "FanOutProgress",
    "FanOutResult",
    "Heartbeat",
    "IdempotencyLedger",
    "ItemPages",
    "ItemRange",
    "PostgresLedger",
    "Reduce",
    "Saga",
    "SagaProgress",
    "SqliteLedger",
    "Tolerate",
    "activity_idempotency_key",
    "complete_callback",
    "entity_signal",
    "entity_update",
    "fan_out",
    "fan_out_progress",
    "idempotency_key",
    "idempotent",
    "open_ledger",
    "reducer",
    "retry",
    "saga_progress",
    "wait_for_callback",
    "workflow_idempotency_key",
]
