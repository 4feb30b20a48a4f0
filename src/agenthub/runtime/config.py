"""Settings and the connection to Temporal.

The connection comes from the SDK's own env config (:mod:`temporalio.envconfig`): a
``temporal.toml`` profile and the ``TEMPORAL_ADDRESS`` / ``TEMPORAL_NAMESPACE`` /
``TEMPORAL_API_KEY`` / ``TEMPORAL_TLS*`` variables, so the same code reaches the embedded
server, a self-hosted cluster or Temporal Cloud. When neither names an address, the embedded
server's address is used.

agenthub's own settings live in :class:`Settings`, read from ``AGENTHUB_*`` variables.

Example::

    settings = Settings.from_env()
    client = await connect(settings)
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig

from agenthub.errors import ConfigurationError, ConnectionFailedError
from agenthub.patterns.callbacks import load_callback_secrets
from agenthub.runtime.converter import DEFAULT_PAYLOAD_LIMIT, data_converter
from agenthub.runtime.tokens import ApiTokenStore

__all__ = ["ENV_PREFIX", "Settings", "connect", "find_data_dir", "load_connect_config"]

ENV_PREFIX = "AGENTHUB_"
DATA_DIR_NAME = ".agenthub"


def find_data_dir(start: Path | None = None) -> Path:
    """The nearest existing ``.agenthub`` directory in ``start`` (default: the current
    directory) or one of its parents, so commands run from a subfolder of a project use the
    project's server, secret and ledger; ``./.agenthub`` when there is none yet."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DATA_DIR_NAME
        if candidate.is_dir():
            return candidate
    return Path(DATA_DIR_NAME)


@dataclass(frozen=True)
class Settings:
    """agenthub's own settings; each field is read from ``AGENTHUB_<FIELD NAME>``.

    Connection settings (address, namespace, TLS, API key) are not here: they belong to the
    SDK's env config (``TEMPORAL_*`` variables and ``temporal.toml``).
    """

    data_dir: Path = field(default_factory=lambda: find_data_dir())
    """Directory for the embedded server's SQLite file, its log and other local state;
    default: the nearest ``.agenthub`` in the current directory or a parent (as git finds
    its repository), else ``./.agenthub``."""
    task_queue: str = "agenthub"
    """Task queue the worker polls and the client starts workflows on."""
    server_ip: str = "127.0.0.1"
    """Address the embedded server binds to."""
    server_port: int = 7233
    """gRPC frontend port of the embedded server."""
    ui_port: int = 0
    """Web UI port of the embedded server; 0 means ``server_port + 1000``."""
    ui: bool = True
    """Serve the Temporal web UI from the embedded server."""
    api_port: int = 0
    """Port of agenthub's HTTP API (``agenthub up``); 0 means ``server_port + 2000``."""
    api_key: str = ""
    """A shared service key: when set, the API requires ``Authorization: Bearer <api_key>``
    or an API token (``agenthub token create``). A request with the shared key acts for a
    trusted front end and names the approver in the body; a token acts as its identity."""
    identity: str = ""
    """Who the CLI acts as (approval decisions); empty: the login name of the OS user."""
    api_max_body: int = 1024 * 1024
    """Largest request body the HTTP API reads, in bytes (a larger one answers 413)."""
    temporal_profile: str | None = None
    """Profile of ``temporal.toml`` to use; ``None`` means the SDK's default profile."""
    temporal_config_file: Path | None = None
    """A ``temporal.toml`` to read instead of the SDK's default location."""
    payload_offload: str = "auto"
    """``true``: payloads from 256 KiB go by reference to ``<data_dir>/payloads`` (every
    worker and client must share that directory); ``false``: payloads over ``payload_limit``
    fail with a clear error; ``auto``: ``true`` when talking to the embedded server."""
    payload_limit: int = DEFAULT_PAYLOAD_LIMIT
    """Largest payload, in bytes, sent inline when offloading is off."""
    payload_gc_interval: int = 6 * 3600
    """Seconds between ``agenthub up``'s sweeps of offloaded payloads no history names any
    more (``agenthub gc``); 0 turns them off."""
    payload_gc_grace: int = 3600
    """Offloaded payloads stored within this many seconds are never swept."""
    ledger: str = ""
    """Idempotency ledger: a ``postgresql://`` DSN, or a SQLite path (default
    ``<data_dir>/ledger.db``)."""
    apps: str = ""
    """User code the hub's worker runs too, comma-separated ``pkg.module[:attr]`` (as
    ``--app``); without any, the hub's worker runs only agenthub's own workflows."""
    config: str = ""
    """The hub's agents file; empty: ``agenthub.toml`` beside the data dir, if there is one."""
    ui_url: str = ""
    """The Temporal web UI, for links; empty: the embedded server's, when it serves one."""
    otlp_endpoint: str = ""
    """OpenTelemetry traces go here (OTLP over HTTP); empty: ``OTEL_EXPORTER_OTLP_ENDPOINT``,
    and with neither, tracing is off."""
    metrics_port: int = 0
    """Serve the SDK's Prometheus metrics on this port (``up`` and ``worker``); 0: off."""
    eager_start: bool = True
    """Ask for eager start on every workflow start of an agenthub client (the first task
    runs in this process's own worker when it polls the queue)."""
    log_level: str = "WARNING"
    """Level of the log lines ``up`` and ``worker`` print (each names its workflow id)."""
    callback_secret: str = ""
    """Callback token signing secret; empty: one is created in ``<data_dir>/callback-secret``."""
    callback_old_secrets: str = ""
    """Comma-separated former secrets, still accepted when verifying (rotation)."""
    openai_base_url: str = ""
    """Base URL for ``openai:`` models: OpenAI itself when empty, or any OpenAI-compatible
    server (a local one needs no key)."""
    openai_api_key: str = ""
    """Key for ``openai:`` models; empty: ``OPENAI_API_KEY``."""
    anthropic_api_key: str = ""
    """Key for ``anthropic:`` models; empty: ``ANTHROPIC_API_KEY``."""

    def __post_init__(self) -> None:
        for name in ("server_port", "ui_port", "api_port", "metrics_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535 or (name == "server_port" and port == 0):
                raise ConfigurationError(
                    f"{ENV_PREFIX}{name.upper()}={port} is not a valid port; use 1-65535"
                )
        if self.payload_offload not in ("auto", "true", "false"):
            raise ConfigurationError(
                f"{ENV_PREFIX}PAYLOAD_OFFLOAD={self.payload_offload!r}; use auto, true or false"
            )
        if self.api_max_body <= 0:
            raise ConfigurationError(f"{ENV_PREFIX}API_MAX_BODY must be > 0 bytes")
        if self.payload_gc_interval < 0 or self.payload_gc_grace < 0:
            raise ConfigurationError(
                f"{ENV_PREFIX}PAYLOAD_GC_INTERVAL and {ENV_PREFIX}PAYLOAD_GC_GRACE are seconds "
                ">= 0 (0 turns the sweeps off)"
            )
        if self.payload_limit <= 0:
            raise ConfigurationError(f"{ENV_PREFIX}PAYLOAD_LIMIT must be > 0 bytes")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigurationError(
                f"{ENV_PREFIX}LOG_LEVEL={self.log_level!r}; use DEBUG, INFO, WARNING or ERROR"
            )
        if not self.task_queue.strip():
            raise ConfigurationError(f"{ENV_PREFIX}TASK_QUEUE must not be empty")

    @property
    def app_specs(self) -> list[str]:
        """:attr:`apps` as a list."""
        return [spec.strip() for spec in self.apps.split(",") if spec.strip()]

    @property
    def effective_ui_port(self) -> int:
        """The UI port actually used (``server_port + 1000`` unless set)."""
        return self.ui_port or self.server_port + 1000

    @property
    def effective_api_port(self) -> int:
        """The API port actually used (``server_port + 2000`` unless set)."""
        return self.api_port or self.server_port + 2000

    @property
    def embedded_address(self) -> str:
        """``host:port`` of the embedded server's frontend."""
        return f"{self.server_ip}:{self.server_port}"

    @property
    def ledger_location(self) -> str:
        """Where the idempotency ledger lives (DSN or SQLite path)."""
        return self.ledger or str(self.data_dir / "ledger.db")

    @property
    def callback_secret_source(self) -> str:
        """Where the current callback secret comes from (for error messages)."""
        if self.callback_secret:
            return f"{ENV_PREFIX}CALLBACK_SECRET"
        return str(self.data_dir / "callback-secret")

    def api_tokens(self) -> ApiTokenStore:
        """The HTTP API's tokens (``<data_dir>/api-tokens.json``)."""
        return ApiTokenStore(self.data_dir / "api-tokens.json")

    @property
    def effective_identity(self) -> str:
        """:attr:`identity`, or the OS login name."""
        if self.identity.strip():
            return self.identity.strip()
        import getpass

        try:
            return getpass.getuser()
        except (KeyError, OSError):  # a container user with no passwd entry
            return f"uid-{os.getuid()}"

    def callback_secrets(self) -> list[str]:
        """Callback signing secrets, current first (creating ``<data_dir>/callback-secret``
        when no secret is configured)."""
        old = self.callback_old_secrets.split(",")
        return load_callback_secrets(self.data_dir, self.callback_secret, old)

    def offloads_payloads(self, address: str) -> bool:
        """Whether payloads are offloaded when talking to ``address``."""
        if self.payload_offload == "auto":
            return same_server(address, self.embedded_address)
        return self.payload_offload == "true"

    def data_converter(self, address: str) -> DataConverter:
        """The data converter for a client talking to ``address``.

        Whether or not it offloads, it reads references offloaded into this data dir, so a
        client that reached the same server by another name still reads every result.
        """
        offload = self.offloads_payloads(address)
        payloads = self.data_dir / "payloads"
        return data_converter(
            offload_dir=payloads if offload else None, limit=self.payload_limit, read_dir=payloads
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from ``AGENTHUB_*`` variables; keyword overrides win.

        Raises:
            ConfigurationError: a variable has a value of the wrong type, naming it.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, str(f.type), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def web_ui_base(settings: Settings) -> str:
    """The web UI to link workflows to: ``settings.ui_url``, else the embedded server's UI
    when the client talks to the embedded server and that UI answers (a headless ``up``
    serves none), else ``""``."""
    from agenthub.runtime.server import port_open

    if settings.ui_url:
        return settings.ui_url.rstrip("/")
    if not settings.ui:
        return ""
    try:
        address = load_connect_config(settings)["target_host"]
    except ConfigurationError:
        return ""
    if not same_server(address, settings.embedded_address):
        return ""
    if not port_open(settings.server_ip, settings.effective_ui_port):
        return ""
    return f"http://{settings.server_ip}:{settings.effective_ui_port}"


def _split_address(address: str) -> tuple[str, str]:
    host, _, port = address.strip().rpartition(":")
    return host.strip("[]").lower(), port


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_server(a: str, b: str) -> bool:
    """Whether two ``host:port`` addresses name the same server without a DNS lookup:
    equal, or the same port on loopback names (``localhost``, ``127.0.0.1``, ``::1``)."""
    (host_a, port_a), (host_b, port_b) = _split_address(a), _split_address(b)
    if port_a != port_b:
        return False
    return host_a == host_b or (_is_loopback(host_a) and _is_loopback(host_b))


def _parse(name: str, type_name: str, raw: str) -> Any:
    var = ENV_PREFIX + name.upper()
    if type_name == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(f"{var}={raw!r} is not a whole number") from None
    if type_name == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"{var}={raw!r} is not a boolean; use true or false")
    if "Path" in type_name:
        return Path(raw).expanduser()
    return raw


def load_connect_config(settings: Settings) -> ClientConnectConfig:
    """Client connect arguments from the SDK's env config, defaulting to the embedded server.

    Raises:
        ConfigurationError: the ``temporal.toml`` file or profile cannot be read.
    """
    try:
        profile = ClientConfigProfile.load(
            profile=settings.temporal_profile,
            config_source=settings.temporal_config_file,
        )
    except Exception as err:  # the bridge raises plain RuntimeError/ValueError
        where = settings.temporal_config_file or "the default temporal.toml"
        raise ConfigurationError(
            f"cannot load Temporal profile {settings.temporal_profile or 'default'!r} "
            f"from {where}: {err}"
        ) from err
    config = profile.to_client_connect_config()
    config.setdefault("target_host", settings.embedded_address)
    config.setdefault("namespace", "default")
    return config


async def connect(
    settings: Settings | None = None,
    *,
    timeout: float = 10.0,
    **client_options: Any,
) -> Client:
    """Connect a :class:`temporalio.client.Client` using env config and agenthub's plugin.

    The client carries :class:`~agenthub.runtime.plugin.AgentHubPlugin`, so every worker
    built from it runs agenthub's workflows and activities. Payloads use the SDK's pydantic
    data converter, so workflow inputs and outputs may be dataclasses or pydantic models;
    large ones are offloaded or refused as :attr:`Settings.payload_offload` says. Extra
    keyword arguments go to ``Client.connect`` (``plugins`` are added after agenthub's).

    Raises:
        ConnectionFailedError: nothing answered at the address in time; the message says how
            to start the embedded server or point ``TEMPORAL_ADDRESS`` elsewhere.
    """
    settings = settings or Settings.from_env()
    config: dict[str, Any] = dict(load_connect_config(settings))
    config.update(client_options)
    address = config["target_host"]
    from agenthub.runtime.plugin import AgentHubPlugin  # the plugin module imports this one
    from agenthub.runtime.telemetry import tracing_plugins

    config["plugins"] = [
        AgentHubPlugin(settings), *tracing_plugins(settings), *config.get("plugins", ()),
    ]  # fmt: skip
    try:
        return await asyncio.wait_for(Client.connect(**config), timeout)
    except (TimeoutError, RuntimeError, OSError) as err:
        reason = "timed out" if isinstance(err, asyncio.TimeoutError) else str(err)
        raise ConnectionFailedError(
            f"cannot reach a Temporal frontend at {address} (namespace "
            f"{config.get('namespace')!r}): {reason}. Start one with `agenthub server`, or "
            "point TEMPORAL_ADDRESS (or a temporal.toml profile) at your cluster."
        ) from err
