"""Tasks that start on their own, on the real dev server: Temporal schedules made from
``[schedules.NAME]`` and signed webhooks (``POST /hooks/{name}``)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.client import ScheduleBackfill, ScheduleOverlapPolicy

from agenthub.agents.hub import HubTasks
from agenthub.agents.schedules import (
    REMOVED_NOTE,
    HubSchedules,
    ScheduleSpecConfig,
    fire_task_id,
    schedule_id,
    sync_schedules,
)
from agenthub.agents.webhooks import WebhookSpec, sign
from agenthub.api import create_app
from agenthub.testing import eventually

from . import hub_tools
from .callback_workflows import SECRET

SECRET_HOOK = b"whsec-0123456789abcdef"


async def _tasks_of(tasks: HubTasks, prefix: str) -> list[Any]:
    return [t for t in await tasks.list_tasks(limit=1000) if t.task_id.startswith(prefix)]


async def test_a_schedule_every_minute_over_an_hour_fires_sixty_tasks_each_once(hub: Any) -> None:
    name = f"hourly{int(time.time() * 1000) % 10**8}"
    spec = ScheduleSpecConfig(
        name, "hub-quick", "Report for {{ date }} at {{ fire_time }} ({{ schedule }})",
        every=timedelta(minutes=1), overlap="allow_all", tenant="acme",
    )  # fmt: skip
    lines = await sync_schedules(hub.client, [spec], task_queue=hub.task_queue)
    assert lines == [f"schedule {name!r} created (every 0:01:00)"]
    assert await sync_schedules(hub.client, [spec], task_queue=hub.task_queue) == []
    # An hour of fires at once: the server's backfill over the past hour (no waiting).
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    handle = hub.client.get_schedule_handle(schedule_id("acme", name))
    await handle.backfill(
        ScheduleBackfill(end - timedelta(hours=1), end, overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    )
    tasks = HubTasks(hub.client, tenant="acme", task_queue=hub.task_queue)
    prefix = f"schedule.{name}-"

    async def all_done() -> list[Any] | None:
        found = await _tasks_of(tasks, prefix)
        done = [t for t in found if t.status == "succeeded"]
        return found if len(done) >= 60 else None

    found = await eventually(all_done, timeout=240, what="sixty scheduled tasks")
    ids = [t.task_id for t in found]
    assert len(ids) == len(set(ids)) >= 60  # each fire once
    expected = {fire_task_id(name, end - timedelta(minutes=m)) for m in range(1, 61)}
    assert expected <= set(ids), sorted(expected - set(ids))[:3]
    one = await tasks.get(fire_task_id(name, end - timedelta(minutes=5)))
    fired = end - timedelta(minutes=5)
    assert one.goal == f"Report for {fired.date()} at {fired.isoformat()} ({name})"
    assert one.requested_by == f"schedule:{name}"
    await handle.delete()


async def test_overlap_skip_pause_trigger_edit_and_removal(hub: Any) -> None:
    name = f"held{int(time.time() * 1000) % 10**8}"
    spec = ScheduleSpecConfig(
        name, "hub-holder", "Hold the line", every=timedelta(hours=1), tenant="acme",
    )  # fmt: skip
    await sync_schedules(hub.client, [spec], task_queue=hub.task_queue)
    hub_tools.HOLDING.clear()
    hub_tools.LET_GO.clear()  # the hub is shared: another module may have let go before
    tasks = HubTasks(hub.client, tenant="acme", task_queue=hub.task_queue)
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.ana, timeout=60) as http:
        listed = await http.get("/schedules")
        assert listed.status_code == 200
        view = next(s for s in listed.json() if s["name"] == name)
        assert view["agent"] == "hub-holder" and view["overlap"] == "skip"
        # Another tenant does not see it, nor act on it.
        other = await http.post(f"/schedules/{name}/trigger", headers=hub.bob)
        assert other.status_code == 404 and other.json()["error"] == "ScheduleNotFound"

        first = await http.post(f"/schedules/{name}/trigger")
        assert first.status_code == 200, first.text
        await asyncio.wait_for(hub_tools.HOLDING.wait(), 30)  # its task holds the line
        second = await http.post(f"/schedules/{name}/trigger")
        assert second.status_code == 200

        async def skipped() -> bool:
            return (await HubSchedules(hub.client, tenant="acme").get(name)).skipped == 1

        await eventually(skipped, what="the overlapping fire skipped")

        async def listed_once() -> list[Any] | None:
            found = await _tasks_of(tasks, f"schedule.{name}-")
            return found or None  # the list (visibility) catches up on its own

        running = await eventually(listed_once, what="the scheduled task listed")
        assert [t.status for t in running] == ["running"]

        paused = await http.post(f"/schedules/{name}/pause")
        assert paused.status_code == 200 and paused.json()["paused"] is True
        # A restart of the hub (the same file) keeps a person's pause.
        assert await sync_schedules(hub.client, [spec], task_queue=hub.task_queue) == []
        assert (await HubSchedules(hub.client, tenant="acme").get(name)).paused
        unpaused = await http.post(f"/schedules/{name}/unpause")
        assert unpaused.json()["paused"] is False

    # Editing the file updates the schedule; removing it pauses it with a note.
    edited = ScheduleSpecConfig(
        name, "hub-holder", "Hold it firmly", every=timedelta(hours=2), tenant="acme"
    )
    lines = await sync_schedules(hub.client, [edited], task_queue=hub.task_queue)
    assert lines == [f"schedule {name!r} updated (every 2:00:00)"]
    view = await HubSchedules(hub.client, tenant="acme").get(name)
    assert view.goal == "Hold it firmly" and view.when == "every 2:00:00"
    lines = await sync_schedules(hub.client, [], task_queue=hub.task_queue)
    assert any(f"schedule {name!r} is no longer in the file: paused" in line for line in lines)
    view = await HubSchedules(hub.client, tenant="acme").get(name)
    assert view.paused and view.note == REMOVED_NOTE
    hub_tools.LET_GO.set()
    await hub.client.get_schedule_handle(schedule_id("acme", name)).delete()


def _hook(**overrides: Any) -> WebhookSpec:
    values: dict[str, Any] = {
        "name": "triage", "agent": "hub-quick", "goal": "Triage {{ body.issue.title }}",
        "secret": SECRET_HOOK, "delivery_header": "X-GitHub-Delivery", "tenant": "acme",
    }  # fmt: skip
    return WebhookSpec(**{**values, **overrides})


async def test_signed_webhooks_start_one_task_per_delivery(hub: Any) -> None:
    hooks = [_hook(), _hook(name="stripe", scheme="timestamped", delivery_header="")]
    app = create_app(hub.client, secrets=[SECRET], task_queue=hub.task_queue, hooks=hooks,
                     max_body=4096)  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    tasks = HubTasks(hub.client, tenant="acme", task_queue=hub.task_queue)
    delivery = f"d-{time.time_ns()}"
    body = json.dumps({"issue": {"title": "Crash on start ✗", "labels": [{"x": [1]}]}}).encode()
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=60) as http:
        signed = {"X-Hub-Signature-256": sign(SECRET_HOOK, body), "X-GitHub-Delivery": delivery}
        answers = [await http.post("/hooks/triage", content=body, headers=signed)
                   for _ in range(3)]  # fmt: skip
        assert [a.status_code for a in answers] == [201, 200, 200], answers[0].text
        assert len({a.json()["task_id"] for a in answers}) == 1
        task_id = answers[0].json()["task_id"]
        assert task_id == f"hook.triage-{delivery}"
        view = await tasks.get(task_id)
        assert view.goal == "Triage Crash on start ✗" and view.requested_by == "webhook:triage"

        before = len(await _tasks_of(tasks, "hook."))
        forged = {**signed, "X-Hub-Signature-256": "sha256=" + "0" * 64}
        changed = body.replace(b"Crash", b"Crush")
        refused = [
            await http.post("/hooks/triage", content=body, headers=forged),
            await http.post("/hooks/triage", content=body,
                            headers={"X-GitHub-Delivery": "x"}),  # unsigned
            await http.post("/hooks/triage", content=changed, headers=signed),  # replayed
        ]  # fmt: skip
        now = int(time.time())
        stale = {"X-Webhook-Signature": sign(SECRET_HOOK, body, scheme="timestamped", at=now - 600)}
        refused.append(await http.post("/hooks/stripe", content=body, headers=stale))
        fresh = {"X-Webhook-Signature": sign(SECRET_HOOK, body, scheme="timestamped", at=now)}
        refused.append(await http.post("/hooks/stripe", content=changed, headers=fresh))
        assert [r.status_code for r in refused] == [401] * 5, [r.text for r in refused]
        assert all(r.json()["error"] == "BadSignature" for r in refused)
        assert len(await _tasks_of(tasks, "hook.")) == before  # nothing started

        ok = await http.post("/hooks/stripe", content=body, headers=fresh)
        assert ok.status_code == 201 and ok.json()["task_id"].startswith("hook.stripe-")
        again = await http.post("/hooks/stripe", content=body, headers=fresh)
        assert again.status_code == 200 and again.json()["task_id"] == ok.json()["task_id"]

        unknown = await http.post("/hooks/nope", content=body, headers=signed)
        assert unknown.status_code == 404 and unknown.json()["error"] == "WebhookNotFound"
        huge = b"[" + b"1," * 3000 + b"1]"
        too_big = {"X-Hub-Signature-256": sign(SECRET_HOOK, huge), "X-GitHub-Delivery": "big"}
        assert (await http.post("/hooks/triage", content=huge, headers=too_big)).status_code == 413
        text = b"not json"
        plain = {"X-Hub-Signature-256": sign(SECRET_HOOK, text), "X-GitHub-Delivery": "txt"}
        assert (await http.post("/hooks/triage", content=text, headers=plain)).status_code == 422
