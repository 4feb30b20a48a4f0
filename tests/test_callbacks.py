"""Async callbacks: durable waits, signed single-use tokens, completion over real HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from agenthub.api import create_app
from agenthub.errors import CallbackAlreadyCompleted, CallbackNotFound, InvalidCallbackToken
from agenthub.patterns.callbacks import (
    CallbackClaims,
    complete_callback,
    load_callback_secrets,
    sign_token,
    verify_token,
)
from agenthub.runtime.connect import connect
from agenthub.runtime.server import EmbeddedServer
from agenthub.runtime.settings import Settings
from agenthub.testing import eventually, running_worker

from .callback_workflows import (
    DELIVERED,
    SECRET,
    TOKENS,
    AwaitsCallbacks,
    RoundsOnFixedCallback,
    Wait,
    WaitsForNothing,
    deliver_token,
)
from .conftest import free_port


async def start(env_client, tq: str, spec: Wait):
    wid = f"cb-{uuid.uuid4().hex[:10]}"
    handle = await env_client.start_workflow(AwaitsCallbacks.run, spec, id=wid, task_queue=tq)
    await asyncio.wait_for(DELIVERED[wid].wait(), 30)
    return handle, TOKENS[wid]


@pytest.fixture
async def ts(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[str]:
    async with running_worker(
        time_skipping_env.client, workflows=[AwaitsCallbacks], activities=[deliver_token]
    ) as tq:
        yield tq


async def test_completed_callbacks_return_their_data(time_skipping_env, ts) -> None:
    client = time_skipping_env.client
    handle, tokens = await start(client, ts, Wait(["manager", "finance"]))
    # Completed out of order; each wait gets its own data.
    await complete_callback(client, tokens["finance"], {"ok": 2}, secrets=[SECRET])
    await complete_callback(client, tokens["manager"], {"ok": 1}, secrets=[SECRET])
    assert await handle.result() == [{"ok": 1}, {"ok": 2}]


async def test_seven_day_timeout_raises_or_returns_default(time_skipping_env, ts) -> None:
    client = time_skipping_env.client
    week = 7 * 24 * 3600
    handle, _ = await start(client, ts, Wait(["approval"], timeout_seconds=week))
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "CallbackTimeout"
    assert "no answer to callback 'approval' within 7 days" in cause.message

    handle, tokens = await start(client, ts, Wait(["approval"], week, default="rejected"))
    assert await handle.result() == ["rejected"]
    with pytest.raises(CallbackNotFound, match="callbacks are closed"):
        await complete_callback(client, tokens["approval"], "late", secrets=[SECRET])


def test_tokens_are_signed_and_expire() -> None:
    claims = CallbackClaims("wf-1", "pay", "cb-1", datetime.now(UTC) + timedelta(hours=1))
    token = sign_token(claims, SECRET)
    assert verify_token(token, [SECRET]) == claims.__class__(
        "wf-1", "pay", "cb-1", claims.expires_at.replace(microsecond=0)
    )
    # Rotation: a token signed with the old secret is still accepted.
    assert verify_token(token, ["new-secret-0123456789", SECRET]).callback_id == "cb-1"
    with pytest.raises(InvalidCallbackToken):
        verify_token(token, ["another-secret-0123456789"])
    with pytest.raises(InvalidCallbackToken):
        verify_token("v1.abc", [SECRET])


def test_secret_file_is_created_once_and_private(tmp_path: Path) -> None:
    first = load_callback_secrets(tmp_path)
    assert first == load_callback_secrets(tmp_path)
    assert (tmp_path / "callback-secret").stat().st_mode & 0o777 == 0o600
    env = {"AGENTHUB_CALLBACK_SECRET": SECRET, "AGENTHUB_CALLBACK_OLD_SECRETS": "a" * 20}
    settings = Settings.from_env(env, data_dir=tmp_path)
    assert settings.callback_secrets() == [SECRET, "a" * 20]
    assert settings.callback_secret_source == "AGENTHUB_CALLBACK_SECRET"
    assert Settings(data_dir=tmp_path).callback_secrets() == first


# --- over real HTTP, on the dev server ---------------------------------------------------


WORKFLOWS = [AwaitsCallbacks, RoundsOnFixedCallback, WaitsForNothing]


@pytest.fixture
async def api(dev_server_env: WorkflowEnvironment) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    client = dev_server_env.client
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(client, secrets=[SECRET]), port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    async with (
        running_worker(client, workflows=WORKFLOWS, activities=[deliver_token]) as tq,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):

        async def started() -> bool:
            return bool(server.started)

        await eventually(started, what="API server start")
        yield http, tq
    server.should_exit = True
    await serving


async def test_webhook_completion_over_http(dev_server_env, api) -> None:
    http, tq = api
    handle, tokens = await start(dev_server_env.client, tq, Wait(["webhook"]))
    response = await http.post(f"/callbacks/{tokens['webhook']}", json={"paid": True})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "accepted", "workflow_id": handle.id, "callback": "webhook"
    }  # fmt: skip
    assert await handle.result() == [{"paid": True}]


async def test_bad_tokens_are_refused_and_change_nothing(dev_server_env, api) -> None:
    http, tq = api
    client = dev_server_env.client
    # Two callbacks, so the workflow still runs after the first is used.
    handle, tokens = await start(client, tq, Wait(["pay", "ship"]))
    other, _ = await start(client, tq, Wait(["pay"]))
    token = tokens["pay"]
    claims = verify_token(token, [SECRET])

    async def both_waiting() -> int | None:
        # Both waits have started their timers: the history stops growing until a message.
        events = (await handle.fetch_history()).events
        timers = sum(e.HasField("timer_started_event_attributes") for e in events)
        return len(events) if timers == 2 else None

    before = await eventually(both_waiting, what="both callbacks waiting")

    forged = sign_token(claims, "attacker-secret-0123456789")
    head, body, sig = token.split(".")
    tampered = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{sig}"
    expired = sign_token(
        CallbackClaims(handle.id, "pay", claims.callback_id, datetime(2020, 1, 1, tzinfo=UTC)),
        SECRET,
    )
    wrong_workflow = sign_token(
        CallbackClaims(other.id, "pay", claims.callback_id, claims.expires_at), SECRET
    )
    cases = [
        (forged, {"x": 1}, 401, "InvalidCallbackToken"),
        (tampered, {"x": 1}, 401, "InvalidCallbackToken"),
        ("not-a-token", {"x": 1}, 401, "InvalidCallbackToken"),
        (expired, {"x": 1}, 410, "CallbackExpired"),
        (wrong_workflow, {"x": 1}, 404, "CallbackNotFound"),
    ]
    for bad, body_json, status, error in cases:
        response = await http.post(f"/callbacks/{bad}", json=body_json)
        assert (response.status_code, response.json()["error"]) == (status, error), bad
    response = await http.post(
        f"/callbacks/{token}", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"] == "InvalidCallbackData"
    assert len((await handle.fetch_history()).events) == before, "refusals left no events"

    assert (await http.post(f"/callbacks/{token}", json="yes")).status_code == 200
    # A sender retrying the same delivery is told it landed (one update id per completion);
    # other data for a used token is refused.
    resent = await http.post(f"/callbacks/{token}", json="yes")
    assert resent.status_code == 200, resent.text
    replayed = await http.post(f"/callbacks/{token}", json="again")
    assert (replayed.status_code, replayed.json()["error"]) == (409, "CallbackAlreadyCompleted")
    with pytest.raises(CallbackAlreadyCompleted):
        await complete_callback(client, token, "again", secrets=[SECRET])
    assert (await http.post(f"/callbacks/{tokens['ship']}", json="shipped")).status_code == 200
    assert await handle.result() == ["yes", "shipped"]
    await other.terminate()


@pytest.mark.slow
async def test_waiting_workflow_survives_a_server_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", server_port=free_port(), ui=False)
    async with EmbeddedServer(settings):
        client = await connect(settings)
        async with running_worker(
            client, workflows=[AwaitsCallbacks], activities=[deliver_token]
        ) as tq:
            handle, tokens = await start(client, tq, Wait(["approval"]))
    async with EmbeddedServer(settings) as restarted:
        assert not restarted.reused
        client = await connect(settings)
        async with running_worker(
            client, workflows=[AwaitsCallbacks], activities=[deliver_token], task_queue=tq
        ):
            await complete_callback(client, tokens["approval"], "approved", secrets=[SECRET])
            assert await client.get_workflow_handle(handle.id).result() == ["approved"]


async def test_cli_completes_a_callback(time_skipping_env, ts, monkeypatch) -> None:
    from typer.testing import CliRunner

    from agenthub.cli import app

    client = time_skipping_env.client
    handle, tokens = await start(client, ts, Wait(["cli"]))
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("AGENTHUB_CALLBACK_SECRET", SECRET)
    runner = CliRunner()
    bad = await asyncio.to_thread(
        runner.invoke, app, ["callback", "complete", tokens["cli"], "--data", "{nope"]
    )
    assert bad.exit_code == 2 and "--data must be JSON" in bad.output
    done = await asyncio.to_thread(
        runner.invoke, app, ["callback", "complete", tokens["cli"], "--data", '{"ok": true}']
    )
    assert done.exit_code == 0, done.output
    assert await handle.result() == [{"ok": True}]
    again = await asyncio.to_thread(
        runner.invoke, app, ["callback", "complete", tokens["cli"], "--data", "1"]
    )
    # Used, and its workflow has ended since: refused as used, naming both.
    assert again.exit_code == 1 and "callback already completed" in again.output
    assert "has ended since" in again.output


def test_non_ascii_tokens_and_keys_are_refused_not_crashed() -> None:
    from fastapi.testclient import TestClient

    for token in ("v1.é.ü", "v1.abc.\udcff", "ü"):
        with pytest.raises(InvalidCallbackToken, match="malformed"):
            verify_token(token, [SECRET])
    # Authentication happens before Temporal is touched: no client is needed to refuse.
    api = TestClient(create_app(None, secrets=[SECRET], api_key="k" * 24))  # type: ignore[arg-type]
    response = api.get("/approvals", headers={"authorization": "Bearer é".encode()})
    assert (response.status_code, response.json()["error"]) == (401, "Unauthorized")


async def test_odd_bodies_are_refused_with_4xx_and_the_token_stays_usable(
    dev_server_env, api
) -> None:
    http, tq = api
    handle, tokens = await start(dev_server_env.client, tq, Wait(["odd"]))
    url = f"/callbacks/{tokens['odd']}"
    nested = b"[" * 2000 + b"]" * 2000
    cases = [
        (nested, 422, "InvalidCallbackData"),  # too deep for the JSON parser
        (b'"\\ud800 lone surrogate"', 422, "InvalidCallbackData"),  # cannot be encoded
        (b"x" * (2 * 1024 * 1024), 413, "CallbackBodyTooLarge"),  # over the 1 MiB cap
        (b"{nope", 422, "InvalidCallbackData"),
    ]
    for body, status, error in cases:
        response = await http.post(url, content=body, headers={"content-type": "application/json"})
        assert (response.status_code, response.json()["error"]) == (status, error), body[:40]
    # A forged token is refused before its (huge) body is read.
    forged = f"v1.{tokens['odd'].split('.')[1]}.AAAA"
    response = await http.post(f"/callbacks/{forged}", content=b"x" * (8 * 1024 * 1024))
    assert (response.status_code, response.json()["error"]) == (401, "InvalidCallbackToken")
    # Nothing above used the token: the real completion goes through.
    assert (await http.post(url, json={"ünïcödé": "✓"})).status_code == 200
    assert await handle.result() == [{"ünïcödé": "✓"}]


async def test_routing_and_protocol_errors_have_the_same_json_shape(api) -> None:
    http, _ = api
    missing = await http.get("/no-such-route")
    assert (missing.status_code, missing.json()["error"]) == (404, "NotFound")
    wrong_method = await http.get("/callbacks/v1.a.b")
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (405, "MethodNotAllowed")
    assert set(missing.json()) == set(wrong_method.json()) == {"error", "message"}


async def test_a_used_token_never_completes_the_next_run(dev_server_env, api) -> None:
    """The callback id is fixed and the workflow continues as new between rounds: the first
    round's token is bound to its run, so resending it cannot answer round two."""
    http, tq = api
    client = dev_server_env.client
    wid = f"rounds-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        RoundsOnFixedCallback.run, args=[2, []], id=wid, task_queue=tq
    )
    await asyncio.wait_for(DELIVERED[wid].wait(), 30)
    first = TOKENS[wid].pop("next")
    DELIVERED[wid].clear()
    assert verify_token(first, [SECRET]).run_id == handle.result_run_id
    assert (await http.post(f"/callbacks/{first}", json="one")).status_code == 200
    await asyncio.wait_for(DELIVERED[wid].wait(), 30)  # round two waits, same callback id
    # The same delivery resent reports where it landed (round one); other data is refused
    # as used (run one completed it), never applied to round two.
    resent = await http.post(f"/callbacks/{first}", json="one")
    assert resent.status_code == 200, resent.text
    other = await http.post(f"/callbacks/{first}", json="two")
    assert (other.status_code, other.json()["error"]) == (409, "CallbackAlreadyCompleted")
    second = TOKENS[wid]["next"]
    assert (await http.post(f"/callbacks/{second}", json="two")).status_code == 200
    assert await client.get_workflow_handle(wid).result() == ["one", "two"]


async def test_tokens_expire_by_ttl_before_their_wait_ends() -> None:
    from agenthub.patterns.callbacks import CallbackRequest

    wait_ends = datetime.now(UTC) + timedelta(days=30)
    request = CallbackRequest("wf", "pay", "cb", wait_ends, run_id="run-1")
    default = verify_token(request.token(SECRET), [SECRET])
    assert timedelta(days=6) < default.expires_at - datetime.now(UTC) <= timedelta(days=7)
    short = verify_token(request.token(SECRET, ttl=timedelta(hours=1)), [SECRET])
    assert short.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    long = verify_token(request.token(SECRET, ttl=timedelta(days=90)), [SECRET])
    assert long.expires_at == wait_ends.replace(microsecond=0), "never past the wait"


async def test_a_revoked_token_is_refused_and_the_callback_stays_pending(
    dev_server_env, api
) -> None:
    http, tq = api
    handle, tokens = await start(dev_server_env.client, tq, Wait(["pay"]))
    leaked = tokens["pay"]
    headers = {"X-Callback-Token": leaked}
    revoked = await http.request("DELETE", "/callbacks", headers=headers)
    assert revoked.status_code == 200, revoked.text
    again = await http.request("DELETE", "/callbacks", headers=headers)
    assert again.status_code == 200, "revoking twice is harmless"
    for response in (
        await http.post(f"/callbacks/{leaked}", json="x"),
        await http.post("/callbacks", json="x", headers=headers),
        await http.post("/callbacks", json={"token": leaked, "data": "x"}),
    ):
        assert (response.status_code, response.json()["error"]) == (401, "CallbackRevoked")
    # Another token of the same callback (as its request activity would mint) still works,
    # in the header form and the body form.
    claims = verify_token(leaked, [SECRET])
    fresh = sign_token(replace(claims, expires_at=claims.expires_at - timedelta(seconds=1)), SECRET)
    missing = await http.post("/callbacks", json={"data": "no token"})
    assert (missing.status_code, missing.json()["error"]) == (401, "InvalidCallbackToken")
    ok = await http.post("/callbacks", json={"token": fresh, "data": "paid"})
    assert ok.status_code == 200, ok.text
    assert await handle.result() == ["paid"]
    gone = await http.request("DELETE", "/callbacks", headers={"X-Callback-Token": fresh})
    assert (gone.status_code, gone.json()["error"]) == (404, "CallbackNotFound")


async def test_a_token_naming_a_workflow_without_callbacks_is_a_404(dev_server_env, api) -> None:
    http, tq = api
    handle = await dev_server_env.client.start_workflow(
        WaitsForNothing.run, id=f"none-{uuid.uuid4().hex[:8]}", task_queue=tq
    )
    token = sign_token(
        CallbackClaims(handle.id, "pay", "cb", datetime.now(UTC) + timedelta(hours=1)), SECRET
    )
    for response in (
        await http.post(f"/callbacks/{token}", json="x"),
        await http.request("DELETE", "/callbacks", headers={"X-Callback-Token": token}),
    ):
        assert (response.status_code, response.json()["error"]) == (404, "CallbackNotFound")
    await handle.terminate()


async def test_data_nested_past_the_workers_decoder_is_a_422(dev_server_env, api) -> None:
    http, tq = api
    handle, tokens = await start(dev_server_env.client, tq, Wait(["deep"]))
    url = f"/callbacks/{tokens['deep']}"
    for depth in (129, 199, 250, 900):  # the API parses these; the worker's decoder would not
        body = b"[" * depth + b"]" * depth
        response = await http.post(url, content=body)
        assert (response.status_code, response.json()["error"]) == (422, "InvalidCallbackData")
        assert "nests more than 128 levels" in response.json()["message"]
    ok = b"[" * 128 + b"]" * 128
    assert (await http.post(url, content=ok)).status_code == 200
    result = await handle.result()
    depth = 0
    value = result[0]
    while isinstance(value, list):
        depth, value = depth + 1, value[0] if value else None
    assert depth == 128
