"""Connect to Temporal, run the embedded server, assemble workers."""

from agenthub.runtime.connect import connect, load_connect_config
from agenthub.runtime.converter import LocalFileStorageDriver
from agenthub.runtime.health import HealthCheckResult, check_worker
from agenthub.runtime.plugin import AgentHubPlugin
from agenthub.runtime.sandbox import CompiledGlueSandboxRunner
from agenthub.runtime.server import EmbeddedServer, find_binary
from agenthub.runtime.settings import Settings, find_data_dir
from agenthub.runtime.tokens import ApiToken, ApiTokenStore, PostgresTokenStore, TokenStore
from agenthub.runtime.worker import AppRegistrations, build_worker, load_apps, run_worker

__all__ = [
    "AgentHubPlugin",
    "ApiToken",
    "ApiTokenStore",
    "AppRegistrations",
    "CompiledGlueSandboxRunner",
    "EmbeddedServer",
    "HealthCheckResult",
    "LocalFileStorageDriver",
    "PostgresTokenStore",
    "Settings",
    "TokenStore",
    "build_worker",
    "check_worker",
    "connect",
    "find_binary",
    "find_data_dir",
    "load_apps",
    "load_connect_config",
    "run_worker",
]
