"""Human approvals: list, approve, reject, time out; from Python, the CLI and HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from agenthub.api import create_app
from agenthub.cli import app
from agenthub.errors import CallbackAlreadyCompleted, ConfigurationError, InvalidInput
from agenthub.patterns.approvals import PendingApproval, decide, list_pending
from agenthub.runtime import ApiTokenStore
from agenthub.testing import eventually, running_worker

from .approval_workflows import Ask, NeedsApproval
from .conftest import free_port

SECRET = "approval-secret-0123456789"


@pytest.fixture
async def tq(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[str]:
    async with running_worker(time_skipping_env.client, workflows=[NeedsApproval]) as task_queue:
        yield task_queue


async def pending_for(client, tq: str, workflow_id: str) -> PendingApproval:
    async def probe() -> PendingApproval | None:
        items = await list_pending(client, task_queue=tq)
        return next((p for p in items if p.workflow_id == workflow_id), None)

    return await eventually(probe, what="approval registered in the inbox")


async def start(client, tq: str, ask: Ask):
    wid = f"approve-{uuid.uuid4().hex[:8]}"
    return await client.start_workflow(NeedsApproval.run, ask, id=wid, task_queue=tq)


async def test_approve_from_python_and_inbox_is_cleared(time_skipping_env, tq) -> None:
    client = time_skipping_env.client
    handle = await start(client, tq, Ask("Refund 420 EUR", ["ana", "bo"]))
    item = await pending_for(client, tq, handle.id)
    assert item.summary == "Refund 420 EUR" and item.approvers == ["ana", "bo"]
    with pytest.raises(InvalidInput, match="'mallory' is not an approver"):
        await decide(client, item, approved=True, by="mallory")
    await decide(client, item, approved=True, by="bo", reason="receipt checked")
    decision = await handle.result()
    assert (decision.approved, decision.by, decision.reason) == (True, "bo", "receipt checked")

    async def cleared() -> bool:
        return all(p.workflow_id != handle.id for p in await list_pending(client, task_queue=tq))

    await eventually(cleared, what="inbox cleared")


async def test_seven_day_timeout(time_skipping_env, tq) -> None:
    handle = await start(time_skipping_env.client, tq, Ask("Deploy", ["ana"], 7 * 24 * 3600))
    decision = await handle.result()
    assert decision.timed_out and not decision.approved


async def test_reject_from_the_cli(time_skipping_env, tq, monkeypatch) -> None:
    client = time_skipping_env.client
    handle = await start(client, tq, Ask("Delete prod table", ["ana"]))
    item = await pending_for(client, tq, handle.id)
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("AGENTHUB_TASK_QUEUE", tq)
    monkeypatch.setenv("COLUMNS", "250")  # the table must not wrap the id
    runner = CliRunner()
    listed = await asyncio.to_thread(runner.invoke, app, ["approvals", "list"])
    assert listed.exit_code == 0 and item.approval_id in listed.output
    reject = ["approvals", "reject", item.approval_id, "--reason", "too risky"]
    # The CLI decides as its configured identity, never as a name typed on the line.
    monkeypatch.setenv("AGENTHUB_IDENTITY", "mallory")
    refused = await asyncio.to_thread(runner.invoke, app, reject)
    assert refused.exit_code == 1 and "'mallory' is not an approver" in refused.output
    monkeypatch.setenv("AGENTHUB_IDENTITY", "ana")
    rejected = await asyncio.to_thread(runner.invoke, app, reject)
    assert rejected.exit_code == 0, rejected.output
    decision = await handle.result()
    assert (decision.approved, decision.by, decision.reason) == (False, "ana", "too risky")


async def test_approvals_over_http_with_an_api_key(dev_server_env: WorkflowEnvironment) -> None:
    client = dev_server_env.client
    port = free_port()
    async with running_worker(client, workflows=[NeedsApproval]) as tq:
        api = create_app(client, secrets=[SECRET], task_queue=tq, api_key="k" * 24)
        server = uvicorn.Server(uvicorn.Config(api, port=port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        try:
            handle = await start(client, tq, Ask("Ship order 9", ["ana"]))
            item = await pending_for(client, tq, handle.id)
            auth = {"authorization": "Bearer " + "k" * 24}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

                async def up() -> bool:
                    return server.started

                await eventually(up, what="API start")
                assert (await http.get("/approvals")).status_code == 401
                listed = await http.get("/approvals", headers=auth)
                assert item.approval_id in [p["approval_id"] for p in listed.json()]
                url = f"/approvals/{item.approval_id}/approve"
                wrong = await http.post(url, json={"by": "eve"}, headers=auth)
                assert (wrong.status_code, wrong.json()["error"]) == (403, "NotAnApprover")
                bad = await http.post(url, json={"reason": 1}, headers=auth)
                assert bad.status_code == 422 and bad.json()["error"] == "InvalidInput"
                assert "body.reason: Input should be a valid string" in bad.json()["message"]
                nobody = await http.post(url, json={"reason": "no name"}, headers=auth)
                assert (nobody.status_code, nobody.json()["error"]) == (422, "InvalidInput")
                assert "name the approver in 'by'" in nobody.json()["message"]
                # Authentication comes before the body is looked at.
                anonymous = await http.post(url, json={"reason": 1})
                assert (anonymous.status_code, anonymous.json()["error"]) == (401, "Unauthorized")
                ok = await http.post(url, json={"by": "ana", "reason": "fine"}, headers=auth)
                assert ok.status_code == 200 and ok.json()["approved"] is True
                # Decided: refused as decided (409, with the decision that stands), before
                # the inbox drops it and after, never 404.
                standing = {"approved": True, "by": "ana", "reason": "fine", "timed_out": False}
                again = await http.post(url, json={"by": "ana"}, headers=auth)
                assert (again.status_code, again.json()["error"]) == (
                    409, "CallbackAlreadyCompleted"
                ), again.text  # fmt: skip
                assert again.json()["decision"] == standing

                async def dropped() -> bool:
                    listed = (await http.get("/approvals", headers=auth)).json()
                    return item.approval_id not in [p["approval_id"] for p in listed]

                await eventually(dropped, what="decided approval leaves the inbox")
                late = await http.post(url, json={"by": "ana", "reason": "x"}, headers=auth)
                assert late.status_code == 409 and late.json()["decision"] == standing
            assert (await handle.result()).by == "ana"
        finally:
            server.should_exit = True
            await serving


async def test_api_tokens_decide_as_their_identity(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_server_env.client
    store = ApiTokenStore(tmp_path / "api-tokens.json")
    ana, _ = store.create(identity="ana")
    eve, _ = store.create(identity="eve")
    gone, gone_record = store.create(identity="ana")
    store.revoke(gone_record.token_id)
    port = free_port()
    async with running_worker(client, workflows=[NeedsApproval]) as tq:
        api = create_app(client, secrets=[SECRET], task_queue=tq, tokens=store)
        server = uvicorn.Server(uvicorn.Config(api, port=port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        try:
            handle = await start(client, tq, Ask("Pay invoice 12", ["ana"]))
            item = await pending_for(client, tq, handle.id)
            url = f"/approvals/{item.approval_id}/approve"
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

                async def up() -> bool:
                    return server.started

                await eventually(up, what="API start")

                def as_(token: str) -> dict[str, str]:
                    return {"authorization": f"Bearer {token}".encode()}  # type: ignore[dict-item]

                for headers in ({}, as_(gone), as_(ana + "x"), as_("ahk_é_ü")):
                    r = await http.post(url, json={}, headers=headers)
                    assert (r.status_code, r.json()["error"]) == (401, "Unauthorized"), headers
                # eve cannot claim to be ana, and as herself she is not an approver.
                claimed = await http.post(url, json={"by": "ana"}, headers=as_(eve))
                assert (claimed.status_code, claimed.json()["error"]) == (403, "IdentityMismatch")
                herself = await http.post(url, json={}, headers=as_(eve))
                assert (herself.status_code, herself.json()["error"]) == (403, "NotAnApprover")
                ok = await http.post(url, json={"reason": "checked"}, headers=as_(ana))
                assert ok.status_code == 200, ok.text
                assert ok.json()["by"] == "ana"
            decision = await handle.result()
            assert (decision.approved, decision.by, decision.reason) == (True, "ana", "checked")
        finally:
            server.should_exit = True
            await serving


def test_the_token_store_keeps_hashes_and_refuses_odd_names(tmp_path: Path) -> None:
    store = ApiTokenStore(tmp_path / "api-tokens.json")
    token, record = store.create(identity="ana@example.com", tenant="acme")
    assert store.authenticate(token) == record
    text = (tmp_path / "api-tokens.json").read_text()
    assert token.split("_", 2)[2] not in text, "only the hash is stored"
    assert ((tmp_path / "api-tokens.json").stat().st_mode & 0o777) == 0o600
    for name in ("", " ana", "ana\n", "é", "x" * 200, "../x"):
        with pytest.raises(ConfigurationError, match="is not a valid name"):
            store.create(identity=name)
    assert store.revoke(record.token_id).revoked_at
    assert store.authenticate(token) is None and not store.has_tokens()
    with pytest.raises(ConfigurationError, match="no API token 'nope'"):
        store.revoke("nope")


async def test_listing_an_inbox_whose_workers_are_gone_is_a_clear_error(
    dev_server_env: WorkflowEnvironment,
) -> None:
    from agenthub.errors import WorkerUnavailable
    from agenthub.patterns.approvals import ApprovalInbox, PendingApproval, _inbox_client

    client = dev_server_env.client
    tq = f"gone-{uuid.uuid4().hex[:8]}"  # no worker ever polls it
    item = PendingApproval("a-1", "wf-1", "Refund", ["ana"], datetime.now(UTC))
    await _inbox_client(client, tq).signal("default", ApprovalInbox.add, item)
    with pytest.raises(WorkerUnavailable, match=f"task queue {tq!r}"):
        await list_pending(client, task_queue=tq, timeout=2)


async def test_pending_approvals_stay_listable_while_the_app_is_down(
    dev_server_env: WorkflowEnvironment,
) -> None:
    from agenthub.errors import WorkerUnavailable

    client = dev_server_env.client
    tq = f"app-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, workflows=[NeedsApproval], task_queue=tq):
        handle = await start(client, tq, Ask("Wire 9,000 EUR", ["ana"]))
        item = await pending_for(client, tq, handle.id)
    # The app's worker is gone: the list is still served (from the inbox's memo) ...
    listed = await list_pending(client, task_queue=tq, timeout=2)
    assert [p.approval_id for p in listed] == [item.approval_id]
    # ... a decision is not confirmed, said in one line; the server keeps it ...
    with pytest.raises(WorkerUnavailable, match="send the same completion again"):
        await decide(client, item, approved=True, by="ana", timeout=2)
    # ... once the app is back it applies; the workflow then ends, and a later decision is
    # refused with the one that stands (read from the ended run's history).
    async with running_worker(client, workflows=[NeedsApproval], task_queue=tq):
        decision = await handle.result()
        assert (decision.approved, decision.by) == (True, "ana")
        with pytest.raises(CallbackAlreadyCompleted, match="already decided: approved by ana"):
            await decide(client, item, approved=False, by="ana")


async def test_the_workflow_itself_refuses_bad_decisions(time_skipping_env, tq) -> None:
    """Sent straight to the workflow (no client-side checks), a malformed decision or one by
    a non-approver is refused before acceptance: the approval stays pending and in the inbox,
    and a good decision still goes through."""
    from agenthub.errors import InvalidCallbackData
    from agenthub.patterns.callbacks import CallbackCompletion, deliver_completion

    client = time_skipping_env.client
    handle = await start(client, tq, Ask("Pay 1,200 EUR", ["ana"]))
    item = await pending_for(client, tq, handle.id)
    bad = [
        {"approved": True, "by": "ana", "extra": 1},
        {"approved": "yes", "by": "ana"},
        {"approved": True, "by": "mallory"},
        {"approved": True, "by": "ana", "timed_out": True},
        ["not", "an", "object"],
    ]
    for data in bad:
        with pytest.raises(InvalidCallbackData):
            await deliver_completion(
                client, handle.id, CallbackCompletion(item.approval_id, "approval", data)
            )
    assert item.approval_id in [p.approval_id for p in await list_pending(client, task_queue=tq)]
    await decide(client, item, approved=True, by="ana", reason="ok")
    assert (await handle.result()).approved
