"""Durable agents at their edges, over real HTTP against the dev server: identical tool
calls of several tasks and tenants, fifty people (or retries) at once on one approval,
callback, session or cancel, a status read while a task ends, a model that cannot be
reached, undo steps in the event stream, and the OpenAPI schema against what the routes
answered."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from agenthub.agents import AgentSpec, agent_events, agent_task_status, start_agent_task, tool
from agenthub.errors import PermanentFailure
from agenthub.runtime import Settings
from agenthub.testing import eventually, running_worker

from . import hub_tools
from .agent_apps import agents_client
from .callback_workflows import DELIVERED, TOKENS, AwaitsCallbacks, Wait
from .hub_server import Hub, read_sse

ANSWERED: set[tuple[str, str, int]] = set()
"""(method, route, status) of every answer below, for the comparison with the OpenAPI."""


def noted(route: str, response: httpx.Response) -> httpx.Response:
    ANSWERED.add((response.request.method.lower(), route, response.status_code))
    return response


async def pending_of(http: httpx.AsyncClient, hub: Hub, headers: dict[str, str]) -> list[Any]:
    listed = noted(
        "/approvals",
        await http.get("/approvals", params={"task_queue": hub.task_queue}, headers=headers),
    )
    assert listed.status_code == 200, listed.text
    found: list[Any] = listed.json()
    return found


async def start_cashier(http: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, str]:
    task_id = f"pay-{uuid.uuid4().hex[:8]}"
    body = {"agent": "hub-cashier", "goal": "pay the bill", "task_id": task_id}
    started = noted("/tasks", await http.post("/tasks", headers=headers, json=body))
    assert started.status_code == 201, started.text
    return task_id, started.json()["workflow_id"]


async def test_identical_calls_of_three_tasks_in_two_tenants_are_listed_and_decided_apart(
    hub: Hub,
) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=60) as http:
        # The offline model gives every call the same tool call id, in every task.
        a1, a2 = await start_cashier(http, hub.ana), await start_cashier(http, hub.ana)
        b1 = await start_cashier(http, hub.bob)

        async def listed(headers: dict[str, str], tasks: list[str]) -> list[Any] | None:
            found = [a for a in await pending_of(http, hub, headers) if a["workflow_id"] in tasks]
            return found if len(found) == len(tasks) else None

        acme = await eventually(lambda: listed(hub.ana, [a1[1], a2[1]]), what="acme's two")
        globex = await eventually(lambda: listed(hub.bob, [b1[1]]), what="globex's one")
        ids = [a["approval_id"] for a in acme + globex]
        assert len(set(ids)) == 3, ids
        assert len({a["summary"] for a in acme + globex}) == 1  # the identical call
        assert not [a for a in await pending_of(http, hub, hub.bob) if a in acme]

        def path(approval: dict[str, Any], verdict: str) -> str:
            return f"/approvals/{approval['approval_id']}/{verdict}?task_queue={hub.task_queue}"

        first, second = sorted(acme, key=lambda a: a["workflow_id"] != a1[1])
        theirs = noted("/approvals/{approval_id}/approve", await http.post(
            path(first, "approve"), headers=hub.bob, json={}
        ))  # fmt: skip
        assert theirs.status_code == 404  # another tenant's: not found, nothing decided
        decided = [
            await http.post(path(first, "approve"), headers=hub.ana, json={}),
            await http.post(path(second, "reject"), headers=hub.ana, json={"reason": "twice"}),
            await http.post(path(globex[0], "approve"), headers=hub.bob, json={}),
        ]
        assert [r.status_code for r in decided] == [200, 200, 200], [r.text for r in decided]
        outcomes = {}
        for (task_id, _), headers in ((a1, hub.ana), (a2, hub.ana), (b1, hub.bob)):
            events = await read_sse(http, f"/tasks/{task_id}/events", **headers)
            approval = next(e for e in events if e["event"] == "approval")
            outcomes[task_id] = approval["data"]["text"]
            assert events[-1]["data"]["status"] == "succeeded"
        assert outcomes == {
            a1[0]: "pay: approved by ana",
            a2[0]: "pay: denied by ana",
            b1[0]: "pay: approved by bob",
        }


async def test_fifty_decisions_at_once_one_wins_the_rest_are_409_with_it(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=120) as http:
        task_id, workflow_id = await start_cashier(http, hub.ana)

        async def asked() -> dict[str, Any] | None:
            found = await pending_of(http, hub, hub.ana)
            return next((a for a in found if a["workflow_id"] == workflow_id), None)

        approval = await eventually(asked, what="the approval")
        route = "/approvals/{approval_id}/{verdict}"

        async def decide(i: int) -> httpx.Response:
            verdict = "approve" if i % 2 else "reject"
            url = f"/approvals/{approval['approval_id']}/{verdict}?task_queue={hub.task_queue}"
            response = await http.post(url, headers=hub.ana, json={"reason": f"person {i}"})
            return noted(route.replace("{verdict}", verdict), response)

        answers = await asyncio.gather(*(decide(i) for i in range(50)))
        statuses = Counter(r.status_code for r in answers)
        assert statuses == {200: 1, 409: 49}, statuses
        winner = next(r.json() for r in answers if r.status_code == 200)
        for refused in (r for r in answers if r.status_code == 409):
            assert refused.json()["error"] == "CallbackAlreadyCompleted"
            assert refused.json()["decision"] == winner
        events = await read_sse(http, f"/tasks/{task_id}/events", **hub.ana)
        assert [e["event"] for e in events].count("approval") == 1
        # Once it left the inbox, a late decision is still the same 409.
        late = await decide(51)
        assert late.status_code == 409 and late.json()["decision"] == winner


async def test_fifty_completions_of_one_callback_one_applies(hub: Hub) -> None:
    workflow_id = f"cb-{uuid.uuid4().hex[:8]}"
    handle = await hub.client.start_workflow(
        AwaitsCallbacks.run, Wait(["go"]), id=workflow_id, task_queue=hub.task_queue
    )
    await asyncio.wait_for(DELIVERED[workflow_id].wait(), 30)
    token = TOKENS[workflow_id]["go"]
    async with httpx.AsyncClient(base_url=hub.url, timeout=120) as http:
        answers = await asyncio.gather(
            *(
                http.post(f"/callbacks/{token}", json={"sender": i, "name": "Zoë ✓"})
                for i in range(50)
            )
        )
        for response in answers:
            noted("/callbacks/{token}", response)
        statuses = Counter(r.status_code for r in answers)
        assert statuses == {200: 1, 409: 49}, statuses
        assert {r.json()["error"] for r in answers if r.status_code == 409} == {
            "CallbackAlreadyCompleted"
        }
        # After the workflow ended, too: the same 409.
        late = noted("/callbacks/{token}", await http.post(f"/callbacks/{token}", json={}))
        assert late.status_code == 409, late.text
    [applied] = await handle.result()
    assert isinstance(applied, dict) and applied["name"] == "Zoë ✓"


async def test_fifty_sends_of_one_session_message_are_answered_once(hub: Hub) -> None:
    session = f"s-{uuid.uuid4().hex[:6]}"
    message = {"agent": "hub-chat", "text": "hello from fifty tabs", "message_id": "m1"}
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana, timeout=120) as http:
        answers = await asyncio.gather(
            *(http.post(f"/sessions/{session}/messages", json=message) for _ in range(50))
        )
        for response in answers:
            noted("/sessions/{session_id}/messages", response)
        assert Counter(r.status_code for r in answers) == {200: 50}, [
            r.text for r in answers if r.status_code != 200
        ][:3]
        assert len({r.text for r in answers}) == 1
        history = noted("/sessions/{session_id}", await http.get(f"/sessions/{session}"))
        assert [t["role"] for t in history.json()["turns"]] == ["user", "agent"]


async def test_fifty_cancels_at_once_and_the_undo_is_in_the_story(hub: Hub) -> None:
    hub_tools.HOLDING.clear()
    hub_tools.LET_GO.clear()
    task_id = f"holder-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana, timeout=120) as http:
        body = {"agent": "hub-holder", "goal": "hold on", "task_id": task_id}
        assert noted("/tasks", await http.post("/tasks", json=body)).status_code == 201
        await asyncio.wait_for(hub_tools.HOLDING.wait(), 30)

        async def reserved() -> bool:
            view = noted("/tasks/{task_id}", await http.get(f"/tasks/{task_id}")).json()
            return any(e["kind"] == "tool_result" for e in view["transcript"])

        await eventually(reserved, what="the reservation")
        answers = await asyncio.gather(*(http.post(f"/tasks/{task_id}/cancel") for _ in range(50)))
        for response in answers:
            noted("/tasks/{task_id}/cancel", response)
        statuses = Counter(r.status_code for r in answers)
        assert set(statuses) <= {202, 409} and statuses[202] >= 1, statuses
        events = await read_sse(http, f"/tasks/{task_id}/events")
        kinds = [e["event"] for e in events]
        assert kinds[-3:] == ["undo", "cancelled", "end"], kinds
        undo = events[-3]["data"]
        assert undo["data"]["tool"] == "reserve" and undo["data"]["outcome"] == "done"
        assert undo["data"]["arguments"] == {"item": hub_tools.RELEASED[-1]}
        assert undo["text"].startswith("undo reserve(") and undo["text"].endswith(": done")
    hub_tools.LET_GO.set()


async def test_a_task_reads_succeeded_only_with_its_output(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana, timeout=60) as http:
        for _ in range(5):
            task_id = f"quick-{uuid.uuid4().hex[:6]}"
            body = {"agent": "hub-quick", "goal": "reserve a table", "task_id": task_id}
            assert (await http.post("/tasks", json=body)).status_code == 201
            while True:  # as a client polls: read until it is no longer running
                view = noted("/tasks/{task_id}", await http.get(f"/tasks/{task_id}")).json()
                if view["status"] not in ("running", "waiting_for_approval", "compensating"):
                    break
            assert view["status"] == "succeeded"
            assert view["output"] and view["closed_at"], view


async def test_the_openapi_schema_documents_every_status_the_routes_answered(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=60) as http:
        # The refusals every route can give: no credentials, an unknown id, bad input.
        for method, route, url in [
            ("get", "/tasks", "/tasks?limit=0"),
            ("get", "/tasks/{task_id}", "/tasks/nope-404"),
            ("post", "/tasks/{task_id}/cancel", "/tasks/nope-404/cancel"),
            ("get", "/tasks/{task_id}/events", "/tasks/nope-404/events"),
            ("get", "/sessions/{session_id}", "/sessions/nope-404"),
            ("get", "/approvals", "/approvals?task_queue="),
            ("post", "/approvals/{approval_id}/approve", "/approvals/nope/approve"),
        ]:
            for headers in ({}, hub.ana):
                response = await http.request(method, url, headers=headers, json={})
                noted(route, response)
        spec = (await http.get("/openapi.json")).json()
    missing = sorted(
        (method, route, status)
        for method, route, status in ANSWERED
        if str(status) not in spec["paths"][route][method]["responses"]
    )
    assert not missing, f"answered but not in the OpenAPI schema: {missing}"
    assert {s for _, _, s in ANSWERED} >= {200, 201, 202, 401, 404, 409, 422}


# --- a model that cannot be reached -------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


@tool(retry="DEFAULT")
async def refuse(reason: str) -> str:
    """A tool that refuses, as a business rule would."""
    raise PermanentFailure(f"refused: {reason}")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def unreachable(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Client, str]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("unreachable"),
        payload_offload="false",
        openai_base_url=f"http://127.0.0.1:{closed_port()}/v1",
        openai_api_key="none",
    )
    client = await agents_client(
        dev_server_env, settings,
        AgentSpec(name="unreachable", model="openai:gpt-test", model_timeout=timedelta(seconds=10)),
        AgentSpec(name="refuser", tools=[refuse]),
    )  # fmt: skip
    async with running_worker(client) as tq:
        yield client, tq


async def test_an_unreachable_model_is_a_model_error_event_and_the_status_says_so(
    unreachable: tuple[Client, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, tq = unreachable
    caplog.set_level(logging.WARNING, logger="temporalio.activity")
    handle = await start_agent_task(client, "unreachable", "Say hi", task_queue=tq)
    seen = []
    async for item in agent_events(client, handle.id):
        seen.append(item.event)
        if item.event.kind == "model_error":
            break
    failure = seen[-1]
    assert failure.data is not None and failure.data["attempt"] == 1
    assert failure.data["error_type"] and failure.data["next_retry_at"]
    assert "attempt 1, retry at" in failure.text
    status = await agent_task_status(handle)
    assert status.last_error == failure.text and "attempt 1 failed" in status.step
    await handle.cancel()
    lines = [
        r for r in caplog.records if r.getMessage().startswith("Completing activity as failed")
    ]
    assert lines and all(r.exc_info is None for r in lines)  # one line each, no traceback
    assert failure.data["error_type"] in lines[0].getMessage()


async def test_an_expected_tool_failure_logs_one_line(
    unreachable: tuple[Client, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, tq = unreachable
    caplog.set_level(logging.WARNING, logger="temporalio.activity")
    handle = await start_agent_task(client, "refuser", "Try it", task_queue=tq)

    async def logged() -> list[logging.LogRecord] | None:
        found = [r for r in caplog.records if "PermanentFailure: refused" in r.getMessage()]
        return found or None

    records = await eventually(logged, what="the tool's failure in the log")
    assert all(r.exc_info is None and r.exc_text is None for r in records)
    assert "\n" not in records[0].getMessage()
    with pytest.raises(WorkflowFailureError):  # a permanent failure ends the task
        await handle.result()
