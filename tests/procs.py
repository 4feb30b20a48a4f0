"""Worker processes for crash tests: spawn, read their announcements, kill them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def worker_process(module: str, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``python -m <module> args...``; killed on exit if still running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def read_lines(process: asyncio.subprocess.Process, prefix: str, count: int) -> list[str]:
    """Wait for ``count`` stdout lines starting with ``prefix``; fail if the process exits."""
    assert process.stdout is not None
    found: list[str] = []
    while len(found) < count:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=120)
        if not line:
            raise AssertionError(f"worker exited after {len(found)} of {count} {prefix!r} lines")
        if line.decode().startswith(prefix):
            found.append(line.decode().strip())
    return found


async def wait_healthy(url: str, what: str = "the HTTP API") -> None:
    """Wait until ``url`` + ``/health`` answers 200 (a process prints its address before its
    HTTP server listens)."""
    import httpx

    from agenthub.testing import eventually

    async def answers() -> bool:
        async with httpx.AsyncClient(timeout=2) as http:
            try:
                return (await http.get(f"{url}/health")).status_code == 200
            except httpx.TransportError:
                return False

    await eventually(answers, what=what)
