"""Property-based fuzz of every HTTP route against the real dev server: whatever arrives,
the answer is a 2xx, or a 4xx in the one JSON error shape; never a 5xx.

Hypothesis generates the requests (odd paths, non-ASCII, huge and deeply nested bodies,
forged and real tokens, real and made-up approval ids); they are then sent in order to the
app, which talks to a real Temporal dev server with real workers behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from agenthub.agents.config import load_hub_config
from agenthub.agents.hub import HubTasks
from agenthub.api import create_app
from agenthub.runtime import AgentHubPlugin, ApiTokenStore, Settings
from agenthub.testing import eventually, running_worker

from .approval_workflows import Ask, NeedsApproval
from .callback_workflows import DELIVERED, SECRET, TOKENS, AwaitsCallbacks, Wait, deliver_token
from .test_approvals import pending_for

REQUESTS = 1200


@dataclass
class Fuzzed:
    method: str
    path: str
    headers: dict[str, bytes]
    body: bytes | None


# Text that can be percent-encoded (no lone surrogates), including non-ASCII.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def _bodies() -> st.SearchStrategy[bytes | None]:
    nested = st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n)
    huge = st.integers(900_000, 1_300_000).map(lambda n: b'"' + b"x" * n + b'"')
    as_json = JSON.map(lambda v: json.dumps(v, ensure_ascii=False).encode())
    return st.one_of(
        st.none(), as_json, as_json, nested, st.binary(max_size=200), huge,
        st.just(b'"\\ud800"'), st.just(b"{"),
    )  # fmt: skip


AGENTS_TOML = """
[agents.fuzz-quick]
tools = ["tests.hub_tools:reserve"]

[agents.fuzz-chat]
"""
TASK_IDS = ["fz-1", "fz-2", "fz-3"]


def _task_bodies() -> st.SearchStrategy[bytes]:
    """Start-task and message bodies: real and made-up agents, odd goals, ids and limits."""
    agent = st.one_of(st.sampled_from(["fuzz-quick", "fuzz-chat"]), TEXT, JSON)
    text = st.one_of(TEXT, st.integers(99_990, 100_010).map(lambda n: "ü" * n), JSON)
    task_id = st.one_of(st.sampled_from(TASK_IDS), TEXT, st.none())
    limits = st.one_of(
        st.none(),
        st.fixed_dictionaries({}, optional={
            "max_requests": st.integers(-2, 20_000), "deadline_seconds": st.floats(-1, 1e9),
            "max_total_tokens": st.integers(-1, 10**12), "x": JSON,
        }),
    )  # fmt: skip
    body = st.fixed_dictionaries(
        {"agent": agent},
        optional={"goal": text, "text": text, "task_id": task_id, "message_id": task_id,
                  "limits": limits, "at": st.one_of(st.integers(-1, 10**12), TEXT),
                  "member": TEXT, "instructions": text, "model": TEXT},
    )  # fmt: skip
    return st.one_of(body, WELL_FORMED).map(
        lambda b: json.dumps(b, ensure_ascii=False).encode("utf-8", "surrogatepass")
    )


WELL_FORMED = st.fixed_dictionaries(
    {"agent": st.sampled_from(["fuzz-quick", "fuzz-chat"]), "goal": TEXT.map(lambda t: t + "."),
     "text": TEXT.map(lambda t: t + ".")},
    optional={"task_id": st.sampled_from(TASK_IDS), "message_id": st.sampled_from(TASK_IDS)},
)  # fmt: skip


@st.composite
def requests(draw: st.DrawFn, tokens: list[str], approvals: list[str], auth: str) -> Fuzzed:
    segment = draw(
        st.one_of(
            TEXT, st.sampled_from(tokens), st.sampled_from(approvals), st.sampled_from(TASK_IDS)
        )
    )
    keys = ["inbox", "task_queue", "x", "status", "limit", "from_offset"]
    query = {k: draw(TEXT) for k in draw(st.sets(st.sampled_from(keys)))}
    template = draw(
        st.sampled_from(
            [
                ("GET", "/health"),
                ("GET", "/approvals"),
                ("POST", "/approvals/{}/approve"),
                ("POST", "/approvals/{}/reject"),
                ("POST", "/callbacks/{}"),
                ("POST", "/callbacks"),
                ("DELETE", "/callbacks"),
                ("GET", "/callbacks/{}"),
                ("POST", "/tasks"),
                ("POST", "/tasks"),
                ("GET", "/tasks"),
                ("GET", "/tasks/{}"),
                ("GET", "/tasks/{}/events"),
                ("POST", "/tasks/{}/cancel"),
                ("GET", "/tasks/{}/cassette"),
                ("POST", "/tasks/{}/fork"),
                ("GET", "/sessions/{}/cassette"),
                ("POST", "/sessions/{}/messages"),
                ("GET", "/sessions/{}"),
                ("GET", "/agents"),
                ("GET", "/openapi.json"),
                ("GET", "/schedules"),
                ("POST", "/schedules/{}/trigger"),
                ("POST", "/hooks/{}"),
                ("GET", "/console/tasks/{}"),
                ("GET", "/console/sessions/{}"),
                ("POST", "/console/tasks"),
                ("POST", "/console/approvals/{}/decide"),
                (draw(st.sampled_from(["PUT", "PATCH", "GET", "POST"])), "/{}"),
            ]
        )
    )
    method, path = template
    path = path.format(quote(segment, safe=""))
    if query:
        path += "?" + urlencode(query)
    headers: dict[str, bytes] = {}
    credential = draw(st.one_of(st.none(), st.just(auth), st.just(auth), TEXT))
    if credential is not None:
        headers["authorization"] = f"Bearer {credential}".encode()
    if draw(st.booleans()):
        headers["x-callback-token"] = draw(st.one_of(st.sampled_from(tokens), TEXT)).encode()
    if draw(st.booleans()):
        headers["content-type"] = draw(st.sampled_from([b"application/json", b"text/plain"]))
    if draw(st.booleans()):
        headers["last-event-id"] = draw(st.one_of(TEXT, st.integers(-3, 10**30).map(str))).encode(
            "utf-8", "surrogateescape"
        )
    body = draw(_bodies())
    if path.startswith(("/tasks", "/sessions")) and draw(st.integers(0, 3)) > 0:
        body = draw(_task_bodies())
    if method == "POST" and path.startswith("/tasks") and draw(st.integers(0, 3)) == 0:
        # A proper start now and then, so tasks run while the rest of the fuzz goes on.
        headers = {"authorization": f"Bearer {auth}".encode(), "content-type": b"application/json"}
        body = json.dumps(draw(WELL_FORMED), ensure_ascii=False).encode()
    if path.startswith("/approvals/") and draw(st.booleans()):
        decision = {"by": draw(st.one_of(st.just("ana"), TEXT)), "reason": draw(TEXT)}
        body = json.dumps(decision).encode()
    return Fuzzed(method, path, headers, body)


def generate(tokens: list[str], approvals: list[str], auth: str) -> list[Fuzzed]:
    found: list[Fuzzed] = []

    @settings(
        max_examples=REQUESTS, database=None, deadline=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(requests(tokens, approvals, auth))
    def collect(request: Fuzzed) -> None:
        found.append(request)

    collect()
    return found


async def test_no_route_answers_5xx_to_generated_requests(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / ".agenthub", payload_offload="false")
    agents = load_hub_config(tmp_path / "agenthub.toml", settings, text=AGENTS_TOML)
    client = await Client.connect(
        dev_server_env.client.service_client.config.target_host,
        plugins=[AgentHubPlugin(settings), agents.plugin(settings)],
    )
    store = ApiTokenStore(tmp_path / "api-tokens.json")
    auth, _ = store.create(identity="ana")
    async with running_worker(
        client, workflows=[AwaitsCallbacks, NeedsApproval], activities=[deliver_token]
    ) as tq:
        wid = f"fuzz-{uuid.uuid4().hex[:8]}"
        names = [f"cb{i}" for i in range(5)]
        await client.start_workflow(AwaitsCallbacks.run, Wait(names), id=wid, task_queue=tq)
        await asyncio.wait_for(DELIVERED[wid].wait(), 30)
        asks = [
            await client.start_workflow(
                NeedsApproval.run, Ask(f"fuzz {i}", ["ana"]), id=f"{wid}-a{i}", task_queue=tq
            )
            for i in range(3)
        ]
        approvals = [(await pending_for(client, tq, a.id)).approval_id for a in asks]
        fuzzed = generate(list(TOKENS[wid].values()), approvals, auth)
        app = create_app(client, secrets=[SECRET], task_queue=tq, tokens=store)
        transport = httpx.ASGITransport(app=app)
        statuses: dict[int, int] = {}
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
            for request in fuzzed:
                response = await asyncio.wait_for(
                    http.request(
                        request.method, request.path, headers=request.headers,
                        content=request.body,
                    ),
                    60,
                )  # fmt: skip
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                where = f"{request.method} {request.path[:200]} -> {response.status_code}"
                assert response.status_code < 500, f"{where}: {response.text[:500]}"
                page = request.path.split("?")[0]
                if page == "/" or page.startswith("/console/"):
                    # The console answers people: its errors are pages, escaped.
                    kind = response.headers.get("content-type", "")
                    assert response.status_code in (303, 307) or kind.startswith("text/"), where
                    assert "<script>" not in response.text, where
                elif response.status_code >= 400:
                    error = response.json()
                    assert set(error) == {"error", "message"}, where
                    assert error["error"] and error["message"], where
        tasks = HubTasks(client, task_queue=tq)

        async def every_task_ended() -> bool:  # started under fuzz, still run to their end
            found = await tasks.list_tasks(limit=1000)
            return bool(found) and all(t.status != "running" for t in found)

        await eventually(every_task_ended, what="the end of every task the fuzz started")
        for handle in [*asks, client.get_workflow_handle(wid)]:
            with contextlib.suppress(RPCError):  # decided or completed by the fuzz
                await handle.terminate()
    assert len(fuzzed) >= 1000
    # The fuzz reached past authentication and validation, not only the 401/404 paths.
    assert statuses.get(200, 0) > 10 and len(statuses) >= 5, statuses
    assert statuses.get(201, 0) >= 1, statuses  # tasks were started, not only refused
    print(f"{len(fuzzed)} requests: {dict(sorted(statuses.items()))}")
