"""agenthub's own settings (:class:`Settings`), read from ``AGENTHUB_*`` variables, and
where a project's data dir is.

The connection to Temporal is not here: :mod:`agenthub.runtime.connect` reads the SDK's env
config.

Example::

    settings = Settings.from_env()
    print(settings.data_dir, settings.task_queue)
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from temporalio.converter import DataConverter

from agenthub.errors import ConfigurationError
from agenthub.patterns.callbacks import load_callback_secrets
from agenthub.runtime.converter import DEFAULT_PAYLOAD_LIMIT, data_converter
from agenthub.runtime.payload_store import PayloadStore
from agenthub.runtime.tokens import ApiTokenStore, PostgresTokenStore, TokenStore

__all__ = ["DATA_DIR_NAME", "ENV_PREFIX", "Settings", "find_data_dir", "same_server"]

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
    deployment_name: str = "agenthub"
    """The Worker Deployment the workers belong to (with :attr:`build_id`)."""
    build_id: str = ""
    """This worker's code version: set, the worker uses the server's Worker Deployment
    Versioning (agent tasks finish on the version they started on; ``agenthub cluster
    promote BUILD_ID`` sends new work to another); empty: unversioned."""
    payload_offload: str = "auto"
    """``true``: payloads from 256 KiB go by reference to the payload store; ``false``:
    payloads over ``payload_limit`` fail with a clear error; ``auto``: ``true`` with a
    shared :attr:`payload_store`, or when talking to the embedded server."""
    payload_store: str = ""
    """Where offloaded payloads live (:class:`~agenthub.runtime.payload_store.PayloadStore`):
    empty: ``<data_dir>/payloads`` on this machine; ``s3://bucket/prefix``: S3 or an
    S3-compatible server (every machine of a hub); ``file:///shared/path``: a directory
    every machine mounts."""
    profile: str = "auto"
    """``single``: one machine, local state is fine; ``cluster``: every guarantee's state
    must be shared (payload store, callback secret, ledger), checked at start;
    ``auto``: ``cluster`` when the server is not the embedded one."""
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
    """Callback token signing secret; empty: :attr:`callback_secret_file`, else one is
    created in ``<data_dir>/callback-secret`` (one machine only)."""
    callback_secret_file: str = ""
    """A file holding the signing secret (a mounted secret), read at start."""
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
        if self.profile not in ("auto", "single", "cluster"):
            raise ConfigurationError(
                f"{ENV_PREFIX}PROFILE={self.profile!r}; use auto, single or cluster"
            )
        PayloadStore.parse(self.payload_store)  # a bad URL fails here, at start

    @property
    def store(self) -> PayloadStore:
        """:attr:`payload_store`, parsed."""
        return PayloadStore.parse(self.payload_store)

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
        if self.callback_secret_file:
            return self.callback_secret_file
        return str(self.data_dir / "callback-secret")

    def api_tokens(self) -> TokenStore:
        """The HTTP API's tokens: in the ledger's PostgreSQL when :attr:`ledger` is one
        (every API replica sees them), else in ``<data_dir>/api-tokens.json``."""
        if self.ledger_is_shared:
            return PostgresTokenStore(self.ledger)
        return ApiTokenStore(self.data_dir / "api-tokens.json")

    @property
    def ledger_is_shared(self) -> bool:
        """Whether the ledger is a PostgreSQL database (every machine reaches it)."""
        return self.ledger.startswith(("postgresql://", "postgres://"))

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
        current = self.callback_secret
        if not current and self.callback_secret_file:
            try:
                current = Path(self.callback_secret_file).read_text(encoding="utf-8").strip()
            except OSError as err:
                raise ConfigurationError(
                    f"{ENV_PREFIX}CALLBACK_SECRET_FILE={self.callback_secret_file}: cannot read "
                    f"it ({err.strerror})"
                ) from None
            if not current:
                raise ConfigurationError(
                    f"{ENV_PREFIX}CALLBACK_SECRET_FILE={self.callback_secret_file} is empty"
                )
        return load_callback_secrets(self.data_dir, current, old)

    def offloads_payloads(self, address: str) -> bool:
        """Whether payloads are offloaded when talking to ``address``."""
        if self.payload_offload == "auto":
            return self.store.shared or same_server(address, self.embedded_address)
        return self.payload_offload == "true"

    def is_cluster(self, address: str) -> bool:
        """Whether the cluster profile applies when talking to ``address``."""
        if self.profile == "auto":
            return not same_server(address, self.embedded_address)
        return self.profile == "cluster"

    def shared_state_problems(self, address: str, *, api: bool = False) -> list[str]:
        """What would keep a guarantee's state on this machine, in the cluster profile
        (empty on one machine): each a line saying which setting fixes it. ``api``: also
        the API role's own state (its tokens)."""
        if not self.is_cluster(address):
            return []
        problems = []
        if self.payload_offload == "true" and not self.store.shared:
            problems.append(
                f"offloaded payloads would stay in {self.data_dir / 'payloads'} on this machine: "
                f"set {ENV_PREFIX}PAYLOAD_STORE=s3://bucket/prefix (or file:///shared/dir)"
            )
        if not self.callback_secret and not self.callback_secret_file:
            problems.append(
                "the callback secret would be generated on this machine, so tokens minted "
                f"elsewhere fail here: set {ENV_PREFIX}CALLBACK_SECRET or "
                f"{ENV_PREFIX}CALLBACK_SECRET_FILE, the same on every machine"
            )
        if not self.ledger_is_shared:
            problems.append(
                f"the idempotency ledger would be a SQLite file on this machine "
                f"({self.ledger_location}): set {ENV_PREFIX}LEDGER=postgresql://..."
            )
            tokens = self.api_tokens() if api else None
            if tokens is not None and tokens.has_tokens():
                problems.append(
                    f"API tokens live in {tokens.location} on this machine, which other "
                    f"replicas do not see: set {ENV_PREFIX}LEDGER=postgresql://... (tokens "
                    "live there too)"
                )
        return problems

    def check_shared_state(self, address: str, *, api: bool = False) -> None:
        """Refuse to start a role of a hub on many machines with state on local disk
        (``api``: the API role, whose tokens count too).

        Raises:
            ConfigurationError: one line per problem, each naming the setting that fixes it
                (``AGENTHUB_PROFILE=single`` says this machine is the only one).
        """
        problems = self.shared_state_problems(address, api=api)
        if problems:
            raise ConfigurationError(
                f"{address} is not the embedded server, so this is the cluster profile "
                f"({ENV_PREFIX}PROFILE=single if this machine is the only one): "
                + "; ".join(problems)
            )

    def data_converter(self, address: str) -> DataConverter:
        """The data converter for a client talking to ``address``.

        Whether or not it offloads, it reads references offloaded into this data dir, so a
        client that reached the same server by another name still reads every result.
        """
        payloads = self.data_dir / "payloads"
        driver = self.store.driver(payloads)
        return data_converter(
            offload_dir=None,
            store=driver if self.offloads_payloads(address) else None,
            limit=self.payload_limit,
            read_dir=payloads,
            read_store=driver,
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
