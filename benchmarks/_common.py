"""Helpers shared by the benchmarks: servers to compare and a timed batch of workflows."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from temporalio.client import Client

from agenthub.runtime.connect import connect
from agenthub.runtime.server import EmbeddedServer, find_binary, probe_temporal
from agenthub.runtime.settings import Settings


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def stock_dev_server() -> AsyncIterator[str]:
    """``temporal server start-dev --db-filename F`` exactly as documented, no pragmas."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        process = subprocess.Popen(
            [str(find_binary("temporal")), "server", "start-dev", "--headless",
             "--db-filename", str(Path(tmp) / "stock.db"), "--port", str(port),
             "--log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        address = f"127.0.0.1:{port}"
        try:
            while not await probe_temporal(address, timeout=1):
                if process.poll() is not None:
                    raise RuntimeError("stock dev server exited")
                await asyncio.sleep(0.1)
            yield address
        finally:
            process.terminate()
            process.wait()


@contextlib.asynccontextmanager
async def embedded_server() -> AsyncIterator[str]:
    """agenthub's embedded server (same binary, SQLite file, agenthub's pragmas)."""
    async with embedded_server_process() as server:
        yield server.address


@contextlib.asynccontextmanager
async def embedded_server_process() -> AsyncIterator[EmbeddedServer]:
    """Like :func:`embedded_server`, giving the server itself (its pid, for memory)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), server_port=free_port(), ui=False)
        async with EmbeddedServer(settings) as server:
            yield server


def process_peak_rss_mib(pid: int | None) -> float | None:
    """Peak resident memory of a live process (Linux ``VmHWM``), None where unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds a live process has used so far (Linux ``/proc``), None
    where unknown."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def client_for(address: str) -> Client:
    return await connect(Settings(), target_host=address)


async def timed_batch(start_one: Callable[[str], Awaitable[Any]], count: int) -> float:
    """Start ``count`` workflows at once, wait for all results; returns workflows/s."""
    run = uuid.uuid4().hex[:8]
    began = time.perf_counter()
    await asyncio.gather(*(start_one(f"bench-{run}-{i}") for i in range(count)))
    return count / (time.perf_counter() - began)


def summarize(label: str, rates: Sequence[float]) -> float:
    best = max(rates)
    print(
        f"{label:<28} median {statistics.median(rates):8.1f}  best {best:8.1f}  "
        f"runs {', '.join(f'{r:.1f}' for r in rates)}"
    )
    return statistics.median(rates)
