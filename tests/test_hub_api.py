"""The hub over real HTTP (uvicorn on a port) against the dev server, with agents declared in
an agenthub.toml: start a task, stream its events, resume from Last-Event-ID, read its
result; sessions; an approval through the API; a cancel that undoes; and every refusal of
authentication and tenancy, each checked to have changed nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from agenthub.testing import eventually

from . import hub_tools
from .hub_server import Hub, bearer, read_sse, workflow_status


async def test_task_streams_its_events_resumes_from_last_event_id_and_answers(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    task_id = f"quick-{uuid.uuid4().hex[:6]}"
    body = {"agent": "hub-quick", "goal": "Reserve a table für zwei 🍷", "task_id": task_id}
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana) as http:
        first = await http.post("/tasks", json=body)
        assert first.status_code == 201, first.text
        assert first.headers["location"] == f"/tasks/{task_id}"
        assert first.json()["web_url"].startswith("http://ui.example/namespaces/default/workflows/")
        again = await http.post("/tasks", json=body)  # a retried start: the same task
        assert (
            again.status_code == 200 and again.json()["workflow_id"] == first.json()["workflow_id"]
        )

        events = await read_sse(http, f"/tasks/{task_id}/events")
        ids = [int(e["id"]) for e in events if "id" in e]
        assert ids == list(range(len(ids))) and len(ids) >= 5
        kinds = [e["event"] for e in events]
        assert kinds[0] == "goal" and "tool_call" in kinds and kinds[-2:] == ["answer", "end"]
        assert events[0]["data"]["text"] == body["goal"]
        assert events[-1]["data"] == {"status": "succeeded", "error": None}

        # A reader that saw up to id 2 reconnects: the rest, no duplicates, no gaps.
        resumed = await read_sse(http, f"/tasks/{task_id}/events", **{"Last-Event-ID": "2"})
        assert [e for e in resumed if "id" in e] == [e for e in events if "id" in e][3:]
        by_query = await read_sse(http, f"/tasks/{task_id}/events?from_offset=4")
        assert [int(e["id"]) for e in by_query if "id" in e] == ids[4:]

        task = (await http.get(f"/tasks/{task_id}")).json()
        assert task["status"] == "succeeded" and task["requested_by"] == "ana"
        assert "reserved" in task["output"] and task["usage"]["tool_calls"] == 1

        async def listed() -> bool:  # the list reads the visibility store, which lags a little
            tasks = (await http.get("/tasks", params={"limit": 1000})).json()
            return task_id in [t["task_id"] for t in tasks if t["status"] == "succeeded"]

        await eventually(listed, what="the task in GET /tasks")
        # The tool's own log line (a plain logging.getLogger) names the task it ran for.
        lines = [r for r in caplog.records if r.name == "hub_tools"]
        assert task["workflow_id"] in [getattr(r, "workflow_id", None) for r in lines]
        conflict = await http.post("/tasks", json={**body, "goal": "something else"})
        assert conflict.status_code == 409 and conflict.json()["error"] == "TaskConflict"


async def test_cancel_over_http_undoes_the_finished_step(hub: Hub) -> None:
    hub_tools.HOLDING.clear()
    hub_tools.LET_GO.clear()  # the hub is shared: another module may have let go before
    task_id = f"holder-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana) as http:
        started = await http.post(
            "/tasks", json={"agent": "hub-holder", "goal": "hold on", "task_id": task_id}
        )
        assert started.status_code == 201, started.text
        reserved_before = len(hub_tools.RESERVED)
        await asyncio.wait_for(hub_tools.HOLDING.wait(), 30)

        async def reserved() -> bool:
            return len(hub_tools.RESERVED) > reserved_before or any(
                e["kind"] == "tool_result"
                for e in (await http.get(f"/tasks/{task_id}")).json()["transcript"]
            )

        await eventually(reserved, what="the reservation")
        cancelled = await http.post(f"/tasks/{task_id}/cancel")
        assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelling"
        events = await read_sse(http, f"/tasks/{task_id}/events")
        assert events[-1]["data"]["status"] == "cancelled"
        assert "cancelled" in [e["event"] for e in events]
        assert hub_tools.RELEASED[-1] == hub_tools.RESERVED[-1]  # the step was undone
        again = await http.post(f"/tasks/{task_id}/cancel")
        assert again.status_code == 409 and again.json()["error"] == "TaskFinished"
    hub_tools.LET_GO.set()


async def test_an_approval_over_http_is_the_tokens_and_its_tenants(hub: Hub) -> None:
    task_id = f"pay-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=hub.url) as http:
        started = await http.post(
            "/tasks", headers=hub.ana,
            json={"agent": "hub-cashier", "goal": "pay the bill", "task_id": task_id},
        )  # fmt: skip
        workflow_id = started.json()["workflow_id"]

        async def pending() -> dict[str, Any] | None:
            found = (await http.get("/approvals", params={"task_queue": hub.task_queue},
                                    headers=hub.ana)).json()  # fmt: skip
            return next((a for a in found if a["workflow_id"] == workflow_id), None)

        approval = await eventually(pending, what="the payment's approval")
        state = (await http.get(f"/tasks/{task_id}", headers=hub.ana)).json()
        assert state["status"] == "waiting_for_approval"
        # Another tenant neither sees nor decides it.
        theirs = await http.get(
            "/approvals", params={"task_queue": hub.task_queue}, headers=hub.bob
        )
        assert workflow_id not in [a["workflow_id"] for a in theirs.json()]
        path = f"/approvals/{approval['approval_id']}/approve?task_queue={hub.task_queue}"
        refused = await http.post(path, headers=hub.bob, json={})
        assert refused.status_code == 404
        assert (await http.get(f"/tasks/{task_id}", headers=hub.ana)).json()["status"] == (
            "waiting_for_approval"
        )
        decided = await http.post(path, headers=hub.ana, json={"reason": "fine"})
        assert decided.status_code == 200 and decided.json()["by"] == "ana"
        events = await read_sse(http, f"/tasks/{task_id}/events", **hub.ana)
        kinds = [e["event"] for e in events]
        assert "approval_asked" in kinds and "approval" in kinds
        assert events[-1]["data"]["status"] == "succeeded"
        assert (
            "approved by ana" in next(e for e in events if e["event"] == "approval")["data"]["text"]
        )
        assert hub_tools.PAID


async def test_sessions_over_http_answer_once_per_message_id(hub: Hub) -> None:
    session = f"s-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana, timeout=60) as http:
        message = {"agent": "hub-chat", "text": "hello, agent ✨", "message_id": "m1"}
        first = await http.post(f"/sessions/{session}/messages", json=message)
        assert first.status_code == 200, first.text
        resent = await http.post(f"/sessions/{session}/messages", json=message)
        assert resent.json() == first.json()  # answered once
        second = await http.post(
            f"/sessions/{session}/messages", json={**message, "text": "again", "message_id": "m2"}
        )
        assert second.json()["turn"] == first.json()["turn"] + 1
        history = (await http.get(f"/sessions/{session}")).json()
        assert [t["role"] for t in history["turns"]] == ["user", "agent", "user", "agent"]
        assert history["turns"][0]["text"] == "hello, agent ✨"
        other = await http.get(f"/sessions/{session}", headers=hub.bob)
        assert other.status_code == 404


async def test_refused_requests_change_nothing(hub: Hub) -> None:
    task_id = f"holder-{uuid.uuid4().hex[:6]}"
    hub_tools.LET_GO.clear()
    async with httpx.AsyncClient(base_url=hub.url) as http:
        body = {"agent": "hub-holder", "goal": "hold", "task_id": task_id}
        for headers in ({}, bearer("ahk_forged_secret"), hub.revoked, {"authorization": "Basic x"}):
            refused = await http.post("/tasks", json=body, headers=headers)
            assert refused.status_code == 401, refused.text
            assert set(refused.json()) == {"error", "message"}
        for tenant in ("acme", "globex"):  # nothing started in any tenant
            assert await workflow_status(hub.client, f"hub/{tenant}/task/{task_id}") is None

        assert (await http.post("/tasks", json=body, headers=hub.ana)).status_code == 201
        workflow_id = f"hub/acme/task/{task_id}"
        for method, path in [
            ("GET", f"/tasks/{task_id}"),
            ("GET", f"/tasks/{task_id}/events"),
            ("POST", f"/tasks/{task_id}/cancel"),
        ]:
            theirs = await http.request(method, path, headers=hub.bob)
            assert theirs.status_code == 404 and theirs.json()["error"] == "TaskNotFound"
            for headers in ({}, hub.revoked):
                assert (await http.request(method, path, headers=headers)).status_code == 401
        listed = await http.get("/tasks", headers=hub.bob, params={"limit": 1000})
        assert all(t["tenant"] == "globex" for t in listed.json())
        # Still running, never asked to cancel.
        assert await workflow_status(hub.client, workflow_id) == WorkflowExecutionStatus.RUNNING
        history = [
            e async for e in hub.client.get_workflow_handle(workflow_id).fetch_history_events()
        ]
        assert not any(
            e.HasField("workflow_execution_cancel_requested_event_attributes") for e in history
        )
        # Bob's own task of the same id is his, separate from ana's.
        mine = await http.post("/tasks", headers=hub.bob, json={**body, "agent": "hub-quick"})
        assert (
            mine.status_code == 201 and mine.json()["workflow_id"] == f"hub/globex/task/{task_id}"
        )
        await hub.client.get_workflow_handle(workflow_id).terminate("test over")
    hub_tools.LET_GO.set()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"agent": "nobody", "goal": "x"}, "UnknownAgent"),
        ({"agent": "hub-quick", "goal": ""}, "InvalidInput"),
        ({"agent": "hub-quick", "goal": "x" * 100_001}, "InvalidInput"),
        ({"agent": "hub-quick", "goal": "x", "task_id": "../etc/passwd"}, "InvalidInput"),
        ({"agent": "hub-quick", "goal": "x", "task_id": "ü"}, "InvalidInput"),
        ({"agent": "hub-quick", "goal": "x", "limits": {"max_requests": 0}}, "InvalidInput"),
        ({"agent": "hub-quick", "goal": {"nested": [[["deep"]]]}}, "InvalidInput"),
        ({"agent": ["hub-quick"], "goal": "x"}, "InvalidInput"),
    ],
)
async def test_bad_start_requests_get_a_named_4xx_and_start_nothing(
    hub: Hub, body: dict[str, Any], error: str
) -> None:
    task_id = body.get("task_id", f"bad-{uuid.uuid4().hex[:6]}")
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana) as http:
        response = await http.post("/tasks", json={"task_id": task_id, **body})
        assert response.status_code == 422, response.text
        assert response.json()["error"] == error and response.json()["message"]
    if isinstance(task_id, str) and "/" not in task_id:
        assert await workflow_status(hub.client, f"hub/acme/task/{task_id}") is None


async def test_bad_event_offsets_are_refused(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana) as http:
        for headers, query in [({"Last-Event-ID": "seven"}, ""), ({}, "?from_offset=-1")]:
            response = await http.get(f"/tasks/any/events{query}", headers=headers)
            assert response.status_code == 422, response.text


async def test_openapi_documents_the_routes_and_the_docs_page_is_served_locally(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as http:
        spec = (await http.get("/openapi.json")).json()
        routes = ["/tasks", "/tasks/{task_id}", "/tasks/{task_id}/events", "/agents"]
        routes += ["/tasks/{task_id}/cancel", "/sessions/{session_id}/messages"]
        for path in routes:
            assert path in spec["paths"], path
        start = spec["paths"]["/tasks"]["post"]["responses"]
        assert {"200", "201", "409", "422"} <= set(start)
        assert "ErrorBody" in json.dumps(start["409"])
        page = await http.get("/docs")
        assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
        assert "cdn" not in page.text.lower()
        script = await http.get("/docs-assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and len(script.content) > 100_000
        agents = (await http.get("/agents", headers=hub.ana)).json()
        assert {"hub-quick", "hub-cashier"} <= {a["name"] for a in agents}


async def test_many_readers_of_one_task_share_one_subscription_and_miss_nothing(
    hub: Hub,
) -> None:
    task_id = f"quick-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana, timeout=60) as http:
        body = {"agent": "hub-quick", "goal": "many readers", "task_id": task_id}
        assert (await http.post("/tasks", json=body)).status_code == 201
        path = f"/tasks/{task_id}/events"
        offsets = [0, 0, 0, 1, 2, 3, 5, 0, 0, 4]
        readers = await asyncio.gather(
            *(read_sse(http, f"{path}?from_offset={start}") for start in offsets)
        )
        full = [int(e["id"]) for e in readers[0] if "id" in e]
        assert full == list(range(len(full))) and len(full) >= 5
        for start, events in zip(offsets, readers, strict=True):
            assert [int(e["id"]) for e in events if "id" in e] == full[start:]
            assert events[-1]["event"] == "end"


async def test_a_reader_that_leaves_releases_the_shared_subscription(hub: Hub) -> None:
    hub_tools.LET_GO.clear()
    task_id = f"holder-{uuid.uuid4().hex[:6]}"
    workflow_id = f"hub/acme/task/{task_id}"
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana, timeout=60) as http:
        body = {"agent": "hub-holder", "goal": "hold", "task_id": task_id}
        assert (await http.post("/tasks", json=body)).status_code == 201
        async with http.stream("GET", f"/tasks/{task_id}/events") as response:
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    break  # one event, then the reader goes away
            assert workflow_id in hub.shared._streams

        async def released() -> bool:
            return workflow_id not in hub.shared._streams

        await eventually(released, what="the subscription's release")
    await hub.client.get_workflow_handle(workflow_id).terminate("test over")
    hub_tools.LET_GO.set()


async def test_a_team_is_a_task_too(hub: Hub) -> None:
    task_id = f"team-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana, timeout=60) as http:
        body = {"agent": "hub-team", "goal": "plan a dinner", "task_id": task_id}
        started = await http.post("/tasks", json=body)
        assert started.status_code == 201 and started.json()["kind"] == "team"
        limited = await http.post(
            "/tasks", json={**body, "task_id": f"{task_id}-x", "limits": {"max_requests": 3}}
        )
        assert limited.status_code == 422 and "is a team" in limited.json()["message"]
        # Followed live from its start: the goal, one line per member, the merge, the answer.
        events = await read_sse(http, f"/tasks/{task_id}/events")
        kinds = [e["event"] for e in events]
        assert kinds == ["goal", "member", "member", "merge", "answer", "end"], kinds
        assert [int(e["id"]) for e in events[:-1]] == [0, 1, 2, 3, 4]
        assert events[0]["data"]["text"].startswith("plan a dinner [team hub-team: booker")
        members = [e["data"]["data"] for e in events if e["event"] == "member"]
        assert members == [
            {"role": "booker", "agent": "hub-quick", "ok": True},
            {"role": "talker", "agent": "hub-chat", "ok": True},
        ]
        assert events[-1]["data"] == {"status": "succeeded", "error": None}
        task = (await http.get(f"/tasks/{task_id}")).json()
        assert task["status"] == "succeeded" and task["output"]
        assert events[-2]["data"]["text"] == task["output"]
        assert [e["text"].split(" ")[0] for e in task["transcript"]] == ["booker", "talker"]
        resumed = await read_sse(http, f"/tasks/{task_id}/events", **{"Last-Event-ID": "2"})
        assert [e["event"] for e in resumed] == ["merge", "answer", "end"]
        assert (await http.get(f"/tasks/{task_id}", headers=hub.bob)).status_code == 404
        events_of_bob = await http.get(f"/tasks/{task_id}/events", headers=hub.bob)
        assert events_of_bob.status_code == 404

        async def listed() -> list[str] | None:
            tasks = (await http.get("/tasks", params={"limit": 1000})).json()
            found = [t["task_id"] for t in tasks if t["task_id"].startswith(task_id)]
            ours = [t for t in tasks if t["task_id"] == task_id and t["kind"] == "team"]
            return found if ours else None

        # Listed once, as a team: its members are not tasks of their own.
        assert await eventually(listed, what="the team in GET /tasks") == [task_id]


async def test_agent_tasks_replay_against_the_agents_as_they_are_now(
    hub: Hub, tmp_path: Any
) -> None:
    # The gate before a rollout: live histories of agent tasks replayed by `agenthub replay`
    # with the agents file's agents (in a process of its own, as a deploy pipeline runs it).
    import subprocess
    import sys

    task_id = f"quick-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana, timeout=60) as http:
        body = {"agent": "hub-quick", "goal": "reserve a table to replay", "task_id": task_id}
        assert (await http.post("/tasks", json=body)).status_code == 201
        events = await read_sse(http, f"/tasks/{task_id}/events")
        assert events[-1]["data"]["status"] == "succeeded"
    (tmp_path / "agenthub.toml").write_text(hub_tools.TOML)
    env = {
        **__import__("os").environ,
        "TEMPORAL_ADDRESS": hub.client.service_client.config.target_host,
        "AGENTHUB_DATA_DIR": str(tmp_path / ".agenthub"),
    }
    replayed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "agenthub", "replay", "--workflow-id", f"hub/acme/task/{task_id}",
         "--config", str(tmp_path / "agenthub.toml")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert f"hub/acme/task/{task_id}\tagenthub.AgentTask\tok\t" in replayed.stdout
    assert "1 histories: 0 would break, 0 skipped" in replayed.stderr


async def test_a_task_exports_as_a_cassette_and_forks_over_http(hub: Hub) -> None:
    task_id = f"fork-src-{uuid.uuid4().hex[:6]}"
    body = {"agent": "hub-quick", "goal": "Reserve a table für zwei 🍷", "task_id": task_id}
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana, timeout=60) as http:
        assert (await http.post("/tasks", json=body)).status_code == 201
        await read_sse(http, f"/tasks/{task_id}/events")
        reserved = list(hub_tools.RESERVED)
        exported = await http.get(f"/tasks/{task_id}/cassette")
        assert exported.status_code == 200, exported.text
        cassette = exported.json()
        assert cassette["format"] == "agenthub.cassette" and cassette["goal"] == body["goal"]
        assert [len(s["tool_calls"]) for s in cassette["steps"]] == [1, 0]
        assert cassette["undos"][0]["tool"] == "reserve"

        fork = {"at": 1, "instructions": "Be brief.", "task_id": f"{task_id}-f"}
        forked = await http.post(f"/tasks/{task_id}/fork", json=fork)
        assert forked.status_code == 201, forked.text
        assert forked.json()["parent"] == f"{task_id}@1"
        again = await http.post(f"/tasks/{task_id}/fork", json=fork)  # a retry: the same fork
        assert again.status_code == 200 and again.json()["task_id"] == fork["task_id"]
        events = await read_sse(http, f"/tasks/{fork['task_id']}/events")
        assert [e["event"] for e in events][:2] == ["goal", "forked"]
        assert events[-1]["data"]["status"] == "succeeded"
        assert reserved == hub_tools.RESERVED  # the replayed reservation did not run again
        # The console names the parent, linked.
        origin = {"origin": hub.url}
        token = hub.ana["authorization"].removeprefix("Bearer ")
        async with httpx.AsyncClient(base_url=hub.url, timeout=60) as browser:
            signed = await browser.post("/console/sign-in", data={"token": token}, headers=origin)
            assert signed.status_code == 303, signed.text
            page = await browser.get(f"/console/tasks/{fork['task_id']}")
            assert f'<a href="/console/tasks/{task_id}">{task_id}</a> after step 1' in page.text

            async def listed() -> bool:  # the list reads the visibility store, which lags
                tasks = (await browser.get("/console/tasks")).text
                return f"(forked from {task_id} after step 1)" in tasks

            await eventually(listed, what="the fork in the console's task list")

        refusals = {
            "answer": await http.post(f"/tasks/{task_id}/fork", json={"at": 2}),
            "range": await http.post(f"/tasks/{task_id}/fork", json={"at": 7}),
            "zero": await http.post(f"/tasks/{task_id}/fork", json={"at": 0}),
            "agent": await http.post(f"/tasks/{task_id}/fork", json={"at": 1, "agent": "nope"}),
        }
        codes = {k: (r.status_code, r.json()["error"]) for k, r in refusals.items()}
        assert codes == {
            "answer": (422, "ForkRefused"), "range": (422, "ForkRefused"),
            "zero": (422, "InvalidInput"), "agent": (422, "UnknownAgent"),
        }, codes  # fmt: skip
        theirs = await http.get(f"/tasks/{task_id}/cassette", headers=hub.bob)
        assert theirs.status_code == 404
        stolen = await http.post(f"/tasks/{task_id}/fork", json={"at": 1}, headers=hub.bob)
        assert stolen.status_code == 404
        assert (await http.get("/tasks/nope-404/cassette")).status_code == 404
        assert reserved == hub_tools.RESERVED
