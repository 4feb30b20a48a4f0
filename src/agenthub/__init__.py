"""agenthub: durable workflow patterns and a multi-agent hub on Temporal.

Example::

    from temporalio.worker import Worker
    from agenthub import Settings, connect

    client = await connect(Settings.from_env())  # carries AgentHubPlugin
    worker = Worker(client, task_queue="orders", workflows=[Order], activities=[charge])
"""

from agenthub._version import __version__
from agenthub.errors import (
    AgentHubError,
    BusinessRuleViolation,
    ConfigurationError,
    ConnectionFailedError,
    InvalidInput,
    PermanentFailure,
    TransientFailure,
    WorkerUnavailable,
)
from agenthub.runtime import (
    AgentHubPlugin,
    EmbeddedServer,
    Settings,
    build_worker,
    connect,
    run_worker,
)

__all__ = [
    "AgentHubError",
    "AgentHubPlugin",
    "BusinessRuleViolation",
    "ConfigurationError",
    "ConnectionFailedError",
    "EmbeddedServer",
    "InvalidInput",
    "PermanentFailure",
    "Settings",
    "TransientFailure",
    "WorkerUnavailable",
    "__version__",
    "build_worker",
    "connect",
    "run_worker",
]
