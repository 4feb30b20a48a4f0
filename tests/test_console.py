"""The hub console in a real browser: Chromium (the system's package) driven by Playwright,
against `agenthub up` with an agents file, as a person meets it.

Screenshots of each page land in ``.test-artifacts/console/`` (not committed).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from agenthub.agents.webhooks import sign
from agenthub.api.console import COOKIE
from agenthub.runtime import Settings
from agenthub.testing import eventually

from . import console_tools
from .conftest import free_port, read_stderr_until
from .procs import wait_healthy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / ".test-artifacts" / "console"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@dataclass
class ConsoleHub:
    url: str
    tokens: dict[str, str]
    effects: Path
    env: dict[str, str]
    log: list[str] = field(default_factory=list)

    def api(self, who: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"authorization": f"Bearer {self.tokens[who]}"}, timeout=60
        )

    def effect_lines(self) -> list[str]:
        return self.effects.read_text().splitlines() if self.effects.exists() else []


@pytest.fixture(scope="module")
async def console_hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleHub]:
    root = tmp_path_factory.mktemp("console")
    (root / "agenthub.toml").write_text(console_tools.TOML)
    data = root / "data"
    store = Settings(data_dir=data).api_tokens()
    tokens = {
        "ana": store.create(identity="ana", tenant="acme")[0],  # the cashier's approver
        "cy": store.create(identity="cy", tenant="acme")[0],  # same tenant, not an approver
        "bob": store.create(identity="bob", tenant="globex")[0],  # another tenant
    }
    api_port = free_port()
    env = {
        **os.environ,
        "AGENTHUB_DATA_DIR": str(data),
        "AGENTHUB_SERVER_PORT": str(free_port()),
        "AGENTHUB_API_PORT": str(api_port),
        "AGENTHUB_UI": "false",
        "AGENTHUB_PAYLOAD_OFFLOAD": "false",
        "AGENTHUB_TEST_EFFECTS": str(root / "effects.txt"),
        "TEMPORAL_CONFIG_FILE": str(root / "none.toml"),
        "PYTHONPATH": str(ROOT),
        "AGENTHUB_TEST_HOOK_SECRET": console_tools.HOOK_SECRET,
        # A "web UI" that answers (the API itself): the task page links to it.
        "AGENTHUB_UI_URL": f"http://127.0.0.1:{api_port}",
    }
    env.pop("TEMPORAL_ADDRESS", None)
    up = subprocess.Popen(
        [sys.executable, "-m", "agenthub", "up"],
        cwd=root, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    hub = ConsoleHub(f"http://127.0.0.1:{api_port}", tokens, root / "effects.txt", env)
    try:
        started = read_stderr_until(up, "worker polling task queue")
        hub.log.append(started)
        drain = threading.Thread(target=lambda: hub.log.extend(up.stderr or []), daemon=True)
        drain.start()
        # The console's address is the first one `up` prints.
        addresses = re.findall(r"^(\S+) +https?://", started, re.M)
        assert addresses and addresses[0] == "console", started
        assert f"console {hub.url}/" in started, started
        await wait_healthy(hub.url)
        yield hub
        # Stopped with a console page still following a stream: `up` ends promptly.
        cookie = {COOKIE: tokens["ana"]}
        async with (
            httpx.AsyncClient(base_url=hub.url, cookies=cookie, timeout=30) as http,
            http.stream("GET", "/console/approvals/stream") as following,
        ):
            up.send_signal(signal.SIGINT)
            async for _ in following.aiter_lines():
                pass  # until the API ends the stream
        assert await asyncio.to_thread(up.wait, 30) == 0
    finally:
        if up.poll() is None:
            up.kill()
    log = "".join(hub.log)
    assert "Traceback" not in log and "stopped" in log, log[-5000:]


def _chromium() -> str | None:
    return os.environ.get("AGENTHUB_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    executable = _chromium()
    if executable is None or not _has_playwright():
        if os.environ.get("AGENTHUB_REQUIRE_BROWSER"):
            pytest.fail("the console tests need Chromium and Playwright (.ci/run installs both)")
        pytest.skip("no Chromium or Playwright here (apt-get install chromium; pip: playwright)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


def _has_playwright() -> bool:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Person:
    """A browser context signed in as someone, with the dialogs its pages opened."""

    page: Any
    context: Any
    dialogs: list[str]


async def _sign_in(browser: Any, hub: ConsoleHub, who: str) -> Person:
    context = await browser.new_context(base_url=hub.url)
    context.set_default_timeout(30_000)
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    await page.goto("/")
    assert "/console/sign-in" in page.url
    await page.fill("input[name=token]", hub.tokens[who])
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/tasks")
    assert who in await page.inner_text("#who")
    return Person(page, context, dialogs)


async def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def _start(person: Person, agent: str, goal: str) -> str:
    page = person.page
    await page.goto("/console/tasks")
    await page.select_option("select[name=agent]", agent)
    await page.fill("textarea[name=goal]", goal)
    await page.click(".start button[type=submit]")
    await page.wait_for_url(re.compile(r".*/console/tasks/task-[0-9a-f]+$"))
    return str(page.url.rsplit("/", 1)[1])


async def _wait_ended(page: Any) -> None:
    await page.wait_for_selector("#stream-state[data-ended=true]", timeout=90_000)
    ended = ", ".join(f"#summary[data-status={s}]" for s in ("succeeded", "failed", "cancelled"))
    await page.wait_for_selector(ended)


async def _events(page: Any) -> list[tuple[int, str]]:
    rows = await page.eval_on_selector_all(
        "#events li", "els => els.map(e => [Number(e.dataset.offset), e.innerText])"
    )
    return [(int(o), str(t)) for o, t in rows]


async def _post_form(
    person: Person, hub: ConsoleHub, path: str, form: dict[str, str], **headers: str
):  # type: ignore[no-untyped-def]
    """A form post from this person's browser (their cookie), by default from the console's
    own origin, as the page would send it."""
    return await person.context.request.post(
        path, form=form, headers={"origin": hub.url, **headers}, max_redirects=0
    )


async def test_task_from_the_form_streams_live_and_markup_stays_text(
    browser: Any, console_hub: ConsoleHub
) -> None:
    ana = await _sign_in(browser, console_hub, "ana")
    await _shot(ana.page, "sign-in-done-tasks")
    goal = f"{console_tools.XSS} ünïcødé 漢字 🚀"
    task_id = await _start(ana, "console-echo", goal)
    page = ana.page
    await _wait_ended(page)
    await _shot(page, "task-echo")
    kinds = [text.split(" ", 1)[0] for _, text in await _events(page)]
    assert kinds[0] == "goal" and "answer" in kinds, kinds
    assert await page.inner_text("#goal") == goal
    assert console_tools.XSS in await page.inner_text("#events")  # the tool's result, as text
    assert await page.locator("img").count() == 0 and ana.dialogs == []
    assert await page.inner_text("#status") == "succeeded"
    # The task is listed, newest first, with its usage.
    await page.goto("/console/tasks?status=succeeded")
    row = page.locator(f"tr[data-task-id='{task_id}']")
    assert "console-echo" in await row.inner_text() and "tool calls" in await row.inner_text()
    assert await page.locator("img").count() == 0 and ana.dialogs == []
    await ana.context.close()


async def test_approval_in_the_inbox_decided_once_with_reload_mid_stream(
    browser: Any, console_hub: ConsoleHub
) -> None:
    ana = await _sign_in(browser, console_hub, "ana")
    task_id = await _start(ana, "console-cashier", "Pay the invoice of Müller & Söhne")
    watcher = ana.page
    await watcher.wait_for_selector("#events li.ev-approval_asked")
    await watcher.reload()  # in the middle of the stream: every event once, none missing
    await watcher.wait_for_selector("#events li.ev-approval_asked")
    assert await watcher.inner_text("#status") == "waiting for approval"

    # cy (same tenant, not an approver) sees it without buttons; a forged post is 403.
    cy = await _sign_in(browser, console_hub, "cy")
    await cy.page.goto("/console/approvals")
    article = cy.page.locator("article[data-approval-id]").filter(has_text=task_id)
    approval_id = str(await article.get_attribute("data-approval-id"))
    assert await article.locator("button").count() == 0
    assert "not an approver" in await article.inner_text()
    forged = await _post_form(cy, console_hub, f"/console/approvals/{approval_id}/decide",
                        {"decision": "approve"})  # fmt: skip
    assert forged.status == 403 and "NotAnApprover" in await forged.text()
    # bob (another tenant) sees neither the approval nor the task.
    bob = await _sign_in(browser, console_hub, "bob")
    await bob.page.goto("/console/approvals")
    assert approval_id not in await bob.page.content()
    missing = await bob.page.goto(f"/console/tasks/{task_id}")
    assert missing is not None and missing.status == 404
    assert "no task" in await bob.page.inner_text("#error")
    forged = await _post_form(bob, console_hub, f"/console/approvals/{approval_id}/decide",
                        {"decision": "approve"})  # fmt: skip
    assert forged.status == 404
    # ana's cookie from another site's page: refused before anything is read.
    cross = await _post_form(ana, console_hub, f"/console/approvals/{approval_id}/decide",
                       {"decision": "approve"}, origin="http://evil.example")  # fmt: skip
    assert cross.status == 403 and "CrossOriginRefused" in await cross.text()

    inbox = await ana.context.new_page()
    await inbox.goto("/console/approvals")
    card = inbox.locator(f"#approval-{approval_id}")
    assert json.loads(await card.locator("pre.arguments").inner_text()) == {"amount": 0}
    assert "Müller" in await card.inner_text() and "console-cashier" in await card.inner_text()
    await _shot(inbox, "approvals-inbox")
    await card.locator("input[name=reason]").fill("invoice checked ✓")
    await card.locator("button.approve").click()
    await inbox.wait_for_url("**/console/approvals?decided=*")
    assert "approved by ana" in await inbox.inner_text("#notice")
    assert await inbox.locator(f"#approval-{approval_id}").count() == 0

    await _wait_ended(watcher)
    await _shot(watcher, "task-approved")
    assert await watcher.inner_text("#status") == "succeeded"
    offsets = [o for o, _ in await _events(watcher)]
    assert offsets == list(range(len(offsets))), offsets  # no duplicate, no gap
    assert console_hub.effect_lines().count("paid 0") == 1
    assert "approved by ana" in await watcher.inner_text("#events")
    for person in (ana, cy, bob):
        await person.context.close()


async def test_a_decision_made_elsewhere_leaves_the_inbox_live(
    browser: Any, console_hub: ConsoleHub
) -> None:
    ana = await _sign_in(browser, console_hub, "ana")
    async with console_hub.api("ana") as api:
        started = await api.post("/tasks", json={"agent": "console-cashier", "goal": "pay it"})
        assert started.status_code == 201, started.text
        task_id = started.json()["task_id"]
        page = ana.page
        await page.goto("/console/approvals")
        # A new approval appears on the open page by itself.
        article = page.locator("article[data-approval-id]").filter(has_text=task_id)
        await article.wait_for()
        approval_id = str(await article.get_attribute("data-approval-id"))
        rejected = await api.post(f"/approvals/{approval_id}/reject", json={"reason": "not today"})
        assert rejected.status_code == 200, rejected.text
        await article.wait_for(state="detached")  # no reload
    await ana.context.close()


async def test_failing_step_shows_its_undo_steps(browser: Any, console_hub: ConsoleHub) -> None:
    ana = await _sign_in(browser, console_hub, "ana")
    await _start(ana, "console-booker", "Book a trip")
    page = ana.page
    await _wait_ended(page)
    await _shot(page, "task-undone")
    assert await page.inner_text("#status") == "failed"
    assert "no seats left" in await page.inner_text("#task-error")
    undos = await page.inner_text("#undos")
    assert "reserve" in undos, undos
    assert console_hub.effect_lines().count("released a") == 1
    await ana.context.close()


async def test_double_submitted_start_form_starts_one_task(
    browser: Any, console_hub: ConsoleHub
) -> None:
    ana = await _sign_in(browser, console_hub, "ana")
    page = ana.page
    goal = "only once, please"
    await page.select_option("select[name=agent]", "console-echo")
    await page.fill("textarea[name=goal]", goal)
    form = {
        "task_id": str(await page.get_attribute("input[name=task_id]", "value")),
        "agent": "console-echo",
        "goal": goal,
    }
    await page.dblclick(".start button[type=submit]")
    await page.wait_for_url(re.compile(r".*/console/tasks/task-"))
    resent = await _post_form(ana, console_hub, "/console/tasks", form)  # the browser's resend
    assert resent.status == 303 and resent.headers["location"].endswith(form["task_id"])
    async with console_hub.api("ana") as api:
        listed = (await api.get("/tasks", params={"limit": 1000})).json()
    assert [t["task_id"] for t in listed if t["goal"] == goal] == [form["task_id"]]
    await ana.context.close()


async def test_chat_of_three_messages_with_one_resent(
    browser: Any, console_hub: ConsoleHub
) -> None:
    ana = await _sign_in(browser, console_hub, "ana")
    page = ana.page
    await page.goto("/console/sessions")
    await page.select_option("#new-session select[name=agent]", "console-chat")
    await page.click("#new-session button")
    await page.wait_for_url(re.compile(r".*/console/sessions/chat-"))
    session_id = page.url.split("/console/sessions/")[1].split("?")[0]
    for n, text in enumerate(["Olá!", "Wie geht's?", "再见"], start=1):
        await page.fill("#send textarea[name=text]", text)
        message_id = str(await page.get_attribute("#send input[name=message_id]", "value"))
        await page.click("#send button")
        await page.locator("#chat .turn-agent").nth(n - 1).wait_for()
        if n == 2:  # sent again (a resent form): answered once
            form = {"agent": "console-chat", "text": text, "message_id": message_id}
            path = f"/console/sessions/{session_id}/messages"
            again = await _post_form(ana, console_hub, path, form)
            assert again.status == 303
    await _shot(page, "session-chat")
    await page.reload()
    said = await page.locator("#chat .turn-user .text").all_inner_texts()
    assert said == ["Olá!", "Wie geht's?", "再见"]
    assert await page.locator("#chat .turn-agent").count() == 3
    await page.goto("/console/sessions")
    assert session_id in await page.inner_text("#sessions")
    await ana.context.close()


async def test_token_cookie_headers_and_sign_out(browser: Any, console_hub: ConsoleHub) -> None:
    context = await browser.new_context(base_url=console_hub.url)
    page = await context.new_page()
    await page.goto("/console/sign-in")
    await page.fill("input[name=token]", "ah_not-a-token")
    await page.click("button[type=submit]")
    assert "not valid" in await page.inner_text("#sign-in-error")
    await context.close()

    ana = await _sign_in(browser, console_hub, "ana")
    page = ana.page
    response = await page.goto("/console/tasks")
    assert response is not None
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and headers["x-frame-options"] == "DENY"
    assert await page.locator("script:not([src])").count() == 0  # no inline script at all
    [cookie] = await ana.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    token = console_hub.tokens["ana"]
    assert token not in page.url and token not in await page.content()
    assert await page.evaluate("document.cookie") == ""  # out of reach of page script
    # A form past the body limit is refused with a page, and nothing starts.
    huge = await _post_form(ana, console_hub, "/console/tasks",
                      {"agent": "console-echo", "goal": "x" * 1_100_000})  # fmt: skip
    assert huge.status == 413 and "BodyTooLarge" in await huge.text()
    await page.click("#who button")
    await page.wait_for_url("**/console/sign-in")
    assert await ana.context.cookies() == []
    await page.goto("/console/approvals")
    assert "/console/sign-in" in page.url
    await ana.context.close()


async def test_up_creates_the_files_schedule_and_serves_its_webhook(
    console_hub: ConsoleHub,
) -> None:
    assert "schedule 'nightly' created (cron 0 3 * * * Europe/Lisbon)" in console_hub.log[0]
    listed = subprocess.run(
        [sys.executable, "-m", "agenthub", "schedules", "list"],
        env=console_hub.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    [view] = json.loads(listed.stdout)  # not a terminal: JSON
    assert view["name"] == "nightly" and view["agent"] == "console-echo"
    assert view["when"] == "cron 0 3 * * * Europe/Lisbon" and not view["paused"]
    assert view["next_fires"], view

    def schedules(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "agenthub", "schedules", *args, "nightly"],
            env=console_hub.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done

    assert "paused schedule 'nightly'" in schedules("pause").stderr
    assert "triggered schedule 'nightly'" in schedules("trigger").stderr
    assert "active schedule 'nightly'" in schedules("unpause").stderr

    async def fired() -> dict[str, Any] | None:
        history = json.loads((await asyncio.to_thread(schedules, "history")).stdout)
        return history if history["recent"] else None

    history = await eventually(fired, what="the triggered fire in the schedule's history")
    assert history["fires"] >= 1 and history["recent"][0].startswith("schedule.nightly-")
    unknown = subprocess.run(
        [sys.executable, "-m", "agenthub", "schedules", "trigger", "nöpe"],
        env=console_hub.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert unknown.returncode == 1 and "schedule" in unknown.stderr, unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1  # one line, no traceback
    body = json.dumps({"sender": {"login": "octo-çat"}}).encode()
    signed = {"X-Hub-Signature-256": sign(console_tools.HOOK_SECRET.encode(), body),
              "X-GitHub-Delivery": "delivery-1"}  # fmt: skip
    async with httpx.AsyncClient(base_url=console_hub.url, timeout=60) as http:
        started = await http.post("/hooks/ping", content=body, headers=signed)
        assert started.status_code == 201, started.text
        assert started.json()["goal"] == "Answer the ping of octo-çat"
        again = await http.post("/hooks/ping", content=body, headers=signed)
        assert again.status_code == 200 and again.json()["task_id"] == "hook.ping-delivery-1"
        unsigned = await http.post("/hooks/ping", content=body)
        assert unsigned.status_code == 401


async def test_a_team_shows_its_members_and_the_web_ui_link(
    browser: Any, console_hub: ConsoleHub
) -> None:
    ana = await _sign_in(browser, console_hub, "ana")
    task_id = await _start(ana, "console-team", "Say hello together")
    page = ana.page
    await _wait_ended(page)
    await _shot(page, "task-team")
    members = await page.locator("#members li").all_inner_texts()
    assert len(members) == 2 and members[0].startswith("echo (console-echo)"), members
    assert members[1].startswith("chat (console-chat)"), members
    link = await page.get_attribute("#web-ui", "href")
    assert link == f"{console_hub.url}/namespaces/default/workflows/hub%2Facme%2Ftask%2F{task_id}"
    await ana.context.close()
