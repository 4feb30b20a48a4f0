"""Connect to Temporal, run the embedded server, assemble workers."""

from agenthub.runtime.config import Settings, connect, load_connect_config
from agenthub.runtime.health import HealthCheckResult, check_worker
from agenthub.runtime.server import EmbeddedServer, find_binary
from agenthub.runtime.worker import build_worker, run_worker

__all__ = [
    "EmbeddedServer",
    "HealthCheckResult",
    "Settings",
    "build_worker",
    "check_worker",
    "connect",
    "find_binary",
    "load_connect_config",
    "run_worker",
]
