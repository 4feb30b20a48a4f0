"""agenthub: durable workflow patterns and a multi-agent hub on Temporal.

Example::

    from agenthub import Settings, connect, build_worker

    client = await connect(Settings.from_env())
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
)
from agenthub.runtime import EmbeddedServer, Settings, build_worker, connect, run_worker

__all__ = [
    "AgentHubError",
    "BusinessRuleViolation",
    "ConfigurationError",
    "ConnectionFailedError",
    "EmbeddedServer",
    "InvalidInput",
    "PermanentFailure",
    "Settings",
    "TransientFailure",
    "__version__",
    "build_worker",
    "connect",
    "run_worker",
]
