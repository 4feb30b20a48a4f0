"""The worker's Temporal client, for agenthub's agent activities that signal or read other
workflows (the limiter's ask, a team's undo of finished members)."""

from __future__ import annotations

from temporalio.client import Client

_CLIENT: list[Client] = []


def set_worker_client(client: Client) -> None:
    """Set by ``AgentsPlugin.configure_worker``."""
    _CLIENT[:] = [client]


def worker_client() -> Client:
    """The client of the worker running this activity.

    Raises:
        RuntimeError: no worker with ``AgentsPlugin`` was configured in this process.
    """
    if not _CLIENT:
        raise RuntimeError("this activity runs on a worker with AgentsPlugin")
    return _CLIENT[0]
