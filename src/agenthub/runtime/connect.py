"""The connection to Temporal.

It comes from the SDK's own env config (:mod:`temporalio.envconfig`): a ``temporal.toml``
profile and the ``TEMPORAL_ADDRESS`` / ``TEMPORAL_NAMESPACE`` / ``TEMPORAL_API_KEY`` /
``TEMPORAL_TLS*`` variables, so the same code reaches the embedded server, a self-hosted
cluster or Temporal Cloud. When neither names an address, the embedded server's address is
used.

Example::

    settings = Settings.from_env()
    client = await connect(settings)
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig

from agenthub.errors import ConfigurationError, ConnectionFailedError
from agenthub.runtime.plugin import AgentHubPlugin
from agenthub.runtime.server import port_open
from agenthub.runtime.settings import Settings, same_server
from agenthub.runtime.telemetry import tracing_plugins

__all__ = ["connect", "load_connect_config", "web_ui_base"]


def web_ui_base(settings: Settings) -> str:
    """The web UI to link workflows to: ``settings.ui_url``, else the embedded server's UI
    when the client talks to the embedded server and that UI answers (a headless ``up``
    serves none), else ``""``."""
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
