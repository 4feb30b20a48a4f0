"""Latency from sending a completion to the workflow observing it (its result returning):
an HTTP POST to agenthub's callback endpoint vs a raw ``handle.signal`` from Python.

Same embedded server, worker and process; samples alternate between the two.

    .venv/bin/python -m benchmarks.callback_latency --samples 200
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import httpx
import uvicorn

from agenthub.api import create_app
from agenthub.testing import running_worker
from benchmarks._common import client_for, embedded_server, free_port
from benchmarks.workloads import (
    TOKEN_READY,
    TOKENS,
    WaitsForCallback,
    WaitsForSignal,
    hand_out_token,
)

SECRET = "benchmark-secret-0123456789"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    http_ms: list[float] = []
    post_ms: list[float] = []
    signal_ms: list[float] = []
    async with embedded_server() as address:
        client = await client_for(address)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(client, secrets=[SECRET]), port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        async with (
            running_worker(
                client, workflows=[WaitsForCallback, WaitsForSignal], activities=[hand_out_token]
            ) as tq,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
        ):
            while not server.started:
                await asyncio.sleep(0.01)
            for i in range(args.samples + 10):  # the first 10 warm up
                wid = f"cb-{uuid.uuid4().hex[:8]}"
                TOKEN_READY[wid] = asyncio.Event()
                handle = await client.start_workflow(
                    WaitsForCallback.run, SECRET, id=wid, task_queue=tq
                )
                await TOKEN_READY[wid].wait()
                began = time.perf_counter()
                response = await http.post(f"/callbacks/{TOKENS[wid]}", json={"n": i})
                assert response.status_code == 200, response.text
                posted = time.perf_counter()
                await handle.result()
                if i >= 10:
                    post_ms.append((posted - began) * 1000)
                    http_ms.append((time.perf_counter() - began) * 1000)

                raw = await client.start_workflow(
                    WaitsForSignal.run, id=f"sig-{uuid.uuid4().hex[:8]}", task_queue=tq
                )
                await raw.describe()  # started, like the callback workflow
                began = time.perf_counter()
                await raw.signal(WaitsForSignal.deliver, {"n": i})
                await raw.result()
                if i >= 10:
                    signal_ms.append((time.perf_counter() - began) * 1000)
        server.should_exit = True
        await serving
    print("send -> workflow has the value and its result is back at the client:")
    for label, values in (("HTTP callback", http_ms), ("raw signal", signal_ms)):
        print(f"{label:<14} p50 {pct(values, 0.5):6.1f} ms  p95 {pct(values, 0.95):6.1f} ms  "
              f"mean {statistics.mean(values):6.1f} ms")  # fmt: skip
    print(f"p50 ratio HTTP/raw: {pct(http_ms, 0.5) / pct(signal_ms, 0.5):.2f} "
          "(targets: p50 < 50 ms, ratio <= 2)")  # fmt: skip
    print(
        f"HTTP POST alone (answers once the workflow's handler has taken the value): "
        f"p50 {pct(post_ms, 0.5):.1f} ms  p95 {pct(post_ms, 0.95):.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
