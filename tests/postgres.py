"""A throwaway PostgreSQL server for tests, when the machine has one installed."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from .conftest import free_port


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def unavailable_reason() -> str | None:
    """Why no PostgreSQL can be started here, or None when one can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'agenthub[postgres]')"
    if not (_pg_bin("initdb") and _pg_bin("pg_ctl")):
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser: PostgreSQL refuses to run as root"
    return None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server in a temp dir on a free port; yields its DSN."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    assert initdb and pg_ctl
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        if as_user:
            os.chmod(tmp, 0o777)
        port = free_port()
        run = {"check": True, "capture_output": True}
        subprocess.run([*as_user, initdb, "-D", data, "-U", "postgres", "--auth=trust"], **run)
        options = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = os.path.join(tmp, "postgres.log")  # not a pipe: the server would hold it open
        subprocess.run(
            [*as_user, pg_ctl, "-D", data, "-l", log, "-o", options, "-w", "start"], **run
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"], **run)
