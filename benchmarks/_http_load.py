"""A light HTTP/1.1 load generator for ``benchmarks.api_load``: ``concurrency`` keep-alive
connections, each sending its share of ``POST /tasks`` one after another.

On a 2-core machine the callers' CPU is taken from the API it measures; real callers spend
it on machines of their own. httpx spends about 2 ms of CPU per request here, this about a
tenth of that: plain sockets, the standard library only (not even agenthub is imported).

    python -m benchmarks._http_load URL COUNT CONCURRENCY FIRST RUN   # prints JSON
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from urllib.parse import urlsplit


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, body: bytes
) -> tuple[int, bytes]:
    writer.write(
        b"POST /tasks HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def post_starts(
    url: str, count: int, concurrency: int, first: int, run: str
) -> tuple[float, list[float], list[str]]:
    """``count`` task starts over HTTP: (seconds, latencies, workflow ids)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    todo = iter(range(first, first + count))
    latencies: list[float] = []
    ids: list[str] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in todo:
                body = json.dumps(
                    {"agent": "bench-quick", "goal": f"goal {i}", "task_id": f"h-{run}-{i}"}
                ).encode()
                began = time.perf_counter()
                status, answer = await _post(reader, writer, f"{host}:{port}", body)
                latencies.append(time.perf_counter() - began)
                if status != 201:
                    raise RuntimeError(f"POST /tasks answered {status}: {answer[:500]!r}")
                ids.append(json.loads(answer)["workflow_id"])
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies, ids


def main() -> None:
    url, count, concurrency, first, run = sys.argv[1:6]
    result = asyncio.run(post_starts(url, int(count), int(concurrency), int(first), run))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps([*result, usage.ru_utime + usage.ru_stime]))


if __name__ == "__main__":
    main()
