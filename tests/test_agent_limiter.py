"""The shared model limiter on the real dev server, against a local model server: a limit
of 2 holds for 20 agents, a 429's Retry-After pauses everyone, a dead holder's permit
expires by its lease."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from agenthub.agents import AgentSpec, LimiterSpec, limiter_stats, run_agent
from agenthub.agents.limiter import Limiter, LimiterStart, PermitAsk, limiter_workflow_id
from agenthub.agents.testing import ModelServer, serving
from agenthub.runtime import Settings
from agenthub.testing import eventually, running_worker

from .agent_apps import agents_client

MODEL = ModelServer(delay=0.2)
TWO = LimiterSpec("model-two", max_concurrent=2)
PAUSING = LimiterSpec("model-pausing", max_concurrent=4)
LEASED = LimiterSpec("model-leased", max_concurrent=1, lease=timedelta(seconds=2))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def limited(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Client, str]]:
    async with serving(MODEL) as model:
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("limited"), payload_offload="false",
            openai_base_url=model.url,
        )  # fmt: skip
        remote = "openai:test-model"
        specs = [
            AgentSpec(name="limited-two", model=remote, limiter=TWO),
            AgentSpec(name="limited-pausing", model=remote, limiter=PAUSING),
            AgentSpec(name="limited-leased", model=remote, limiter=LEASED),
        ]
        client = await agents_client(dev_server_env, settings, *specs)
        async with running_worker(
            client, max_concurrent_activities=50, max_concurrent_workflow_tasks=50
        ) as tq:
            yield client, tq


@pytest.fixture(autouse=True)
def _reset() -> None:
    MODEL.failures.clear()
    MODEL.requests = MODEL.most_in_flight = 0
    MODEL.times.clear()


async def test_twenty_agents_through_a_limit_of_two_never_exceed_it(limited) -> None:
    client, tq = limited
    results = await asyncio.gather(
        *(run_agent(client, "limited-two", f"task {i}", task_queue=tq) for i in range(20))
    )
    assert all(r.output.startswith("answer:") for r in results)
    assert MODEL.requests == 20 and MODEL.most_in_flight == 2
    stats = await limiter_stats(client, TWO.name)
    assert stats.granted == 20 and stats.most_held == 2 and stats.held == 0
    assert stats.tokens_last_minute == 20 * 15, "each request gave back the tokens it used"


async def test_a_429_with_retry_after_pauses_every_agent_of_the_limiter(limited) -> None:
    client, tq = limited
    MODEL.failures.append((429, {"Retry-After": "2"}))
    first = asyncio.ensure_future(run_agent(client, "limited-pausing", "first", task_queue=tq))

    async def paused() -> bool:
        try:
            return (await limiter_stats(client, PAUSING.name)).paused_until > time.time()
        except RPCError:  # the limiter starts with the first request
            return False

    await eventually(paused, what="limiter paused by the 429")
    refused_at = MODEL.times[0]
    others = [run_agent(client, "limited-pausing", f"other {i}", task_queue=tq) for i in range(4)]
    results = await asyncio.gather(first, *others)
    assert all(r.output.startswith("answer:") for r in results)
    assert MODEL.requests == 6
    assert min(MODEL.times[1:]) - refused_at >= 1.8, "nobody asked the model during the pause"


async def test_a_permit_of_a_holder_that_died_expires_by_its_lease(limited) -> None:
    client, tq = limited
    # A holder takes the only permit and never gives it back (it was terminated).
    await client.start_workflow(
        Limiter.run, LimiterStart(LEASED), id=limiter_workflow_id(LEASED.name), task_queue=tq,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="ask", start_signal_args=[PermitAsk("ghost-permit", "ghost-holder")],
    )  # fmt: skip
    started = time.monotonic()
    result = await run_agent(client, "limited-leased", "go", task_queue=tq)
    assert result.output.startswith("answer:")
    assert time.monotonic() - started >= 1.5, "it waited for the lease to end"
    stats = await limiter_stats(client, LEASED.name)
    assert stats.expired == 1 and stats.held == 0 and stats.granted == 2
