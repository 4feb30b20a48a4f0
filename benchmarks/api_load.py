"""The hub's HTTP API under load vs the same starts through the client, in the same run:
task starts per second and their ratio, p95 start latency, every started task run to its
end; then many SSE readers on one task: every reader gets every event, and how late.

The API (uvicorn) and the worker share one process, as in ``agenthub up``, with
``--concurrency`` starts in flight on both sides. The client side calls the hub's own start
(``HubTasks.start``) in that process; the HTTP requests come from a process of their own,
as real callers do, so the API is not charged for its callers' HTTP client: a light one
(``benchmarks/_http_load.py``, keep-alive sockets), because on a small machine the callers'
CPU is taken from the API all the same (``--same-process`` sends them with httpx from the
API's process, as this benchmark used to).

    .venv/bin/python -m benchmarks.api_load --tasks 1000 --readers 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import uvicorn
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from temporalio.client import Client

from agenthub.agents import AgentSpec, AgentsPlugin, tool
from agenthub.agents.hub import HubTasks
from agenthub.api import create_app
from agenthub.runtime import AgentHubPlugin, Settings
from agenthub.testing import running_worker
from benchmarks._common import embedded_server, free_port

TURNS = 20


@tool
async def tick(n: int) -> str:
    """One step of a long task (a short wait, like a quick API call)."""
    await asyncio.sleep(0.05)
    return f"tick {n}"


def _ticking(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    done = sum(isinstance(m, ModelResponse) for m in messages)
    if done < TURNS:
        return ModelResponse(parts=[ToolCallPart("tick", {"n": done}, tool_call_id=f"t{done}")])
    return ModelResponse(parts=[TextPart("ticked")])


QUICK = AgentSpec(name="bench-quick")  # the offline model: one request, an answer
TICKER = AgentSpec(name="bench-ticker", model=FunctionModel(_ticking), tools=[tick])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _batch(
    count: int, concurrency: int, start: Callable[[int], Awaitable[str]]
) -> tuple[float, list[float], list[str]]:
    """Run ``start(i)`` for every i with ``concurrency`` in flight: (seconds, latencies,
    workflow ids)."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    ids: list[str] = []

    async def one(i: int) -> None:
        async with gate:
            began = time.perf_counter()
            ids.append(await start(i))
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - began, latencies, ids


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _read_events(http: httpx.AsyncClient, path: str) -> list[tuple[int, float, float]]:
    """(offset, event time, arrival time) of every event until the end event."""
    seen: list[tuple[int, float, float]] = []
    async with http.stream("GET", path, timeout=120) as response:
        offset = -1
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                offset = int(line[4:])
            elif line.startswith("data: ") and offset >= 0:
                data = json.loads(line[6:])
                seen.append((offset, data["at"], time.time()))
                offset = -1
            elif line == "event: end":
                break
    return seen


async def _post_starts(url: str, count: int, concurrency: int, first: int, run: str) -> Any:
    """``count`` task starts over HTTP (``concurrency`` in flight): seconds, latencies, ids."""
    limits = httpx.Limits(max_connections=concurrency + 10)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

        async def over_http(i: int) -> str:
            body = {"agent": "bench-quick", "goal": f"goal {i}", "task_id": f"h-{run}-{i}"}
            response = await http.post("/tasks", json=body)
            assert response.status_code == 201, response.text
            workflow_id: str = response.json()["workflow_id"]
            return workflow_id

        return await _batch(count, concurrency, lambda i: over_http(first + i))


async def _starts_from_another_process(
    url: str, count: int, concurrency: int, first: int, run: str
) -> tuple[float, list[float], list[str], float]:
    """Like :func:`_post_starts`, from a light load process; also its CPU seconds per
    request (a real caller's, spent on its own machine)."""
    loader = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks._http_load", url, str(count), str(concurrency),
        str(first), run, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await loader.communicate()
    assert loader.returncode == 0, "the HTTP load process failed"
    seconds, latencies, ids, cpu = json.loads(out)
    return seconds, latencies, ids, cpu / count


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--same-process", action="store_true",
                        help="send the HTTP requests from the API's own process")  # fmt: skip
    args = parser.parse_args()

    async with embedded_server() as address:
        with TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), payload_offload="false")
            plugins = [AgentHubPlugin(settings), AgentsPlugin(QUICK, TICKER, settings=settings)]
            client = await Client.connect(address, plugins=plugins)
            async with running_worker(client) as tq:
                app = create_app(client, secrets=["bench"], task_queue=tq)
                port = free_port()
                server = _Server(uvicorn.Config(app, port=port, log_level="warning"))
                serving = asyncio.ensure_future(server.serve())
                while not server.started:
                    await asyncio.sleep(0.05)
                try:
                    await _measure(client, tq, f"http://127.0.0.1:{port}", args)
                finally:
                    server.should_exit = True
                    await serving


async def _measure(client: Client, tq: str, url: str, args: argparse.Namespace) -> None:
    tasks = HubTasks(client, task_queue=tq)
    run = uuid.uuid4().hex[:6]
    limits = httpx.Limits(max_connections=args.concurrency + args.readers + 10)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

        async def direct_from(first: int, i: int) -> str:
            return await direct(first + i)

        async def direct(i: int) -> str:
            started = await tasks.start("bench-quick", f"goal {i}", task_id=f"d-{run}-{i}")
            return started.task.workflow_id

        load_cpu = [0.0]  # CPU seconds per request of the last load process

        async def over_http(count: int, first: int) -> tuple[float, list[float], list[str]]:
            if args.same_process:
                result: tuple[float, list[float], list[str]] = await _post_starts(
                    url, count, args.concurrency, first, run
                )
                return result
            seconds, latencies, ids, load_cpu[0] = await _starts_from_another_process(
                url, count, args.concurrency, first, run
            )
            return seconds, latencies, ids

        # Warm both paths up.
        await _batch(args.concurrency, args.concurrency, lambda i: direct(10_000 + i))
        await over_http(args.concurrency, 10_000)
        # Two halves each, in the order client, http, http, client: the server slows a
        # little as its database grows, and neither side should run only late.
        half = args.tasks // 2
        results: dict[str, tuple[float, list[float], list[str]]] = {
            "client": (0.0, [], []), "http": (0.0, [], []),
        }  # fmt: skip
        for turn, name in enumerate(("client", "http", "http", "client")):
            first = turn * half
            if name == "client":
                part = await _batch(half, args.concurrency, functools.partial(direct_from, first))
            else:
                part = await over_http(half, first)
            seconds, latencies, ids = results[name]
            results[name] = (seconds + part[0], latencies + part[1], ids + part[2])
            # Each half runs to its end before the next starts (as before, for both sides).
            handles = [client.get_workflow_handle(w) for w in part[2]]
            outcomes = await asyncio.gather(*(h.result() for h in handles), return_exceptions=True)
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            assert not failed, failed[:3]
        for name in ("client", "http"):
            count = len(results[name][2])
            print(
                f"{name:>6}: {count} starts in {results[name][0]:.2f} s = "
                f"{count / results[name][0]:.0f} starts/s, p50 "
                f"{_pct(results[name][1], 0.5) * 1000:.1f} ms, p95 "
                f"{_pct(results[name][1], 0.95) * 1000:.1f} ms; every task ran to its end"
            )
        ratio = results["client"][0] / results["http"][0]
        print(f"ratio http/client starts per second: {ratio:.2f}")
        where = (
            "the API's process (httpx)" if args.same_process
            else f"a process of their own (plain sockets, {load_cpu[0] * 1000:.2f} ms CPU each)"
        )  # fmt: skip
        p95_p50 = _pct(results["http"][1], 0.95) / _pct(results["http"][1], 0.5)
        print(f"  (HTTP requests sent from {where}; http p95/p50 {p95_p50:.1f})")

        # SSE fan-out: many readers follow one long task live.
        started = await tasks.start("bench-ticker", "tick along", task_id=f"ticker-{run}")
        path = f"/tasks/{started.task.task_id}/events"
        readers = await asyncio.gather(*(_read_events(http, path) for _ in range(args.readers)))
        offsets = [[o for o, _, _ in r] for r in readers]
        complete = all(o == offsets[0] for o in offsets) and offsets[0] == list(
            range(len(offsets[0]))
        )
        # Delays of events that happened while the readers were connected (not the backlog).
        joined = min(min(arrived for _, _, arrived in r) for r in readers)
        delays = [arrived - at for r in readers for _, at, arrived in r if at >= joined]
        print(
            f"SSE: {args.readers} readers x {len(offsets[0])} events, every reader got every "
            f"event in order: {complete}; delivery delay p50 {_pct(delays, 0.5) * 1000:.0f} ms, "
            f"p95 {_pct(delays, 0.95) * 1000:.0f} ms ({len(delays)} live deliveries)"
        )
        assert complete


if __name__ == "__main__":
    asyncio.run(main())
