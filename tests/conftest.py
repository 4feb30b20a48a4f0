from __future__ import annotations

import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_stderr_until(process: subprocess.Popen[str], marker: str) -> str:
    """Read a child's stderr line by line until ``marker`` shows; returns what was read."""
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} never printed; output was:\n{''.join(seen)}")


@pytest.fixture
def port() -> int:
    return free_port()


# Fixtures that start a server (Temporal, PostgreSQL); tests using them (directly or through another
# fixture) are in the "server" tier, the rest without a "slow" mark are the "fast" tier.
SERVER_FIXTURES = frozenset({"time_skipping_env", "dev_server_env", "postgres_dsn"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow"):
            continue
        uses_server = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        item.add_marker(pytest.mark.server if uses_server else pytest.mark.fast)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server of the test session (skipped where PostgreSQL is not installed)."""
    from . import postgres

    reason = postgres.unavailable_reason()
    if reason:
        pytest.skip(reason)
    with postgres.postgres_server() as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def hub(dev_server_env: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """The hub over HTTP, shared by the API test modules (one fixture: the agents' registry
    is per process). Imported here, not at the top: workflow modules import this conftest
    inside the sandbox, which must not import an HTTP stack."""
    from .hub_server import serve_hub

    async with serve_hub(dev_server_env, tmp_path_factory) as served:
        yield served
