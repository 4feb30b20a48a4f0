"""Teams on the real dev server: members in parallel through fan_out, each failure policy,
a merger, and a cancelled team undoing its members' side effects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from agenthub.agents import TeamMember, TeamSpec, run_team, start_team
from agenthub.patterns.fanout import CollectErrors, FailFast, Tolerate
from agenthub.runtime import Settings
from agenthub.testing import eventually, running_worker

from .agent_apps import (
    BROKEN,
    EFFECTS,
    MERGER,
    RELEASE,
    SLOWMATE,
    STARTED,
    TEAMMATE,
    UNDONE,
    agents_client,
)

ROLES = ["flights", "hotels", "food", "museums", "weather"]


def team(name: str, members: list[TeamMember], **options) -> TeamSpec:
    return TeamSpec(name=name, members=members, merger="merger", **options)


def mates(*roles: str) -> list[TeamMember]:
    return [TeamMember(role, "teammate") for role in roles]


TEAMS = [
    team("five", mates(*ROLES)),
    team("failfast", [*mates("a", "b"), TeamMember("x", "broken")], failures=FailFast()),
    team("collect", [*mates("a", "b"), TeamMember("x", "broken")], failures=CollectErrors()),
    team(
        "tolerate", [*mates("a", "b"), TeamMember("x", "broken")], failures=Tolerate(max_failures=1)
    ),
    team("cancelled", [TeamMember("slow", "slowmate"), *mates("quick")]),
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def teams(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Client, str]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("teams"), payload_offload="false")
    agents = (TEAMMATE, BROKEN, SLOWMATE, MERGER)
    client = await agents_client(dev_server_env, settings, *agents, teams=TEAMS)
    async with running_worker(client) as tq:
        yield client, tq


@pytest.fixture(autouse=True)
def _clean() -> None:
    EFFECTS.clear()
    UNDONE.clear()


async def test_a_team_of_five_runs_in_parallel_and_merges(teams) -> None:
    client, tq = teams
    handle = await start_team(client, "five", "A week in Lisbon", task_queue=tq)
    result = await handle.result()
    assert result.output == "merged: " + "; ".join(sorted(f"{r}: {r} done" for r in ROLES))
    assert [m.role for m in result.members] == ROLES and not any(m.error for m in result.members)
    assert sorted(EFFECTS) == sorted(f"hotel {r} x1" for r in ROLES)
    assert result.usage.requests == 5 * 2 + 1
    # The members ran side by side: one after another they would take the sum of their times.
    spans = []
    for i in range(5):
        described = await client.get_workflow_handle(f"{handle.id}/item-{i}").describe()
        assert described.close_time is not None
        spans.append((described.start_time, described.close_time))
    wall = max(c for _, c in spans) - min(s for s, _ in spans)
    assert wall < sum((c - s for s, c in spans), start=wall * 0) * 0.8


async def test_a_failing_member_follows_each_failure_policy(teams) -> None:
    client, tq = teams
    with pytest.raises(WorkflowFailureError) as info:
        await run_team(client, "failfast", "Go", task_queue=tq)
    assert "no flights to Nowhere" in str(info.value.cause)
    collected = await run_team(client, "collect", "Go", task_queue=tq)
    assert collected.output == "merged: a: a done; b: b done; x: (failed: " + (
        collected.members[2].error + ")"
    )
    assert "no flights to Nowhere" in collected.members[2].error
    tolerated = await run_team(client, "tolerate", "Go", task_queue=tq)
    assert [m.error == "" for m in tolerated.members] == [True, True, False]


async def test_a_cancelled_team_undoes_its_members_side_effects(teams) -> None:
    client, tq = teams
    STARTED.clear()
    RELEASE.clear()
    handle = await start_team(client, "cancelled", "Go", task_queue=tq)
    await asyncio.wait_for(STARTED.wait(), 30)

    async def quick_done() -> bool:
        described = await client.get_workflow_handle(f"{handle.id}/item-1").describe()
        return described.status is not None and described.status.name == "COMPLETED"

    await eventually(quick_done, what="the quick member finished")
    await handle.cancel()
    RELEASE.set()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert sorted(EFFECTS) == ["car Slow", "hotel quick x1", "hotel slow x1"]
    assert sorted(UNDONE) == ["car Slow", "hotel quick", "hotel slow"]
    assert UNDONE.index("car Slow") < UNDONE.index("hotel slow"), "newest first"
