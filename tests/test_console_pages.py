"""The console's pages over HTTP, in process, on the real dev server: an API with no tokens
(the open default), and what every page answers to forged, foreign or broken requests."""

from __future__ import annotations

from typing import Any

import httpx

from agenthub.api import create_app
from agenthub.api.console import SECURITY_HEADERS
from agenthub.runtime import ApiTokenStore

ORIGIN = {"origin": "http://console.test"}


def _http(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://console.test", timeout=30
    )


async def test_open_api_console_says_so_and_asks_who_decides(dev_server_env: Any) -> None:
    app = create_app(dev_server_env.client, secrets=["s" * 32], agents=lambda: ["echo"])
    async with _http(app) as http:
        root = await http.get("/")
        assert root.status_code == 303 and root.headers["location"] == "/console/tasks"
        page = await http.get("/console/tasks")
        assert page.status_code == 200
        assert "Open API: no tokens" in page.text and "echo" in page.text
        for name, value in SECURITY_HEADERS.items():
            assert page.headers[name.lower()] == value
        # Every change must come from the console's own origin.
        for headers in ({}, {"origin": "http://evil.test"}, {"referer": "http://evil.test/x"}):
            forged = await http.post("/console/tasks", data={"agent": "echo", "goal": "hi"},
                                     headers=headers)  # fmt: skip
            assert forged.status_code == 403 and "CrossOriginRefused" in forged.text
            assert forged.headers["content-type"].startswith("text/html")
        same = await http.post(
            "/console/approvals/nope/decide", data={"decision": "approve"}, headers=ORIGIN
        )
        assert same.status_code == 422 and "Who decides?" in same.text
        unknown = await http.post(
            "/console/approvals/nope/decide", data={"decision": "approve", "by": "ana"},
            headers=ORIGIN,
        )  # fmt: skip
        assert unknown.status_code == 404 and "no pending approval" in unknown.text
        bad_filter = await http.get("/console/tasks?status=<b>x</b>")
        assert bad_filter.status_code == 422 and "<b>" not in bad_filter.text
        bad_id = await http.get("/console/tasks/" + "%C3%BC" * 200)
        assert bad_id.status_code == 422 and bad_id.headers["content-type"].startswith("text/")
        # The API's own routes keep their JSON errors and carry no console headers.
        api = await http.get("/tasks/nope")
        assert api.status_code == 404 and api.json()["error"] == "TaskNotFound"
        assert "content-security-policy" not in api.headers


async def test_token_api_console_signs_in_and_refuses_the_service_key(
    dev_server_env: Any, tmp_path: Any
) -> None:
    store = ApiTokenStore(tmp_path / "tokens.json")
    token, _ = store.create(identity="ana", tenant="acme")
    app = create_app(
        dev_server_env.client, secrets=["s" * 32], tokens=store, api_key="k" * 32,
        agents=lambda: ["echo"],
    )  # fmt: skip
    async with _http(app) as http:
        away = await http.get("/console/approvals")
        assert away.status_code == 303
        assert away.headers["location"] == "/console/sign-in?next=/console/approvals"
        stream = await http.get("/console/approvals/stream")
        assert stream.status_code == 401
        key = await http.post("/console/sign-in", data={"token": "k" * 32}, headers=ORIGIN)
        assert key.status_code == 401 and "service key" in key.text
        signed = await http.post(
            "/console/sign-in", data={"token": token, "next": "//evil.test/"}, headers=ORIGIN
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/console/tasks"
        cookie = signed.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        page = await http.get("/console/sessions")
        assert page.status_code == 200 and "signed in as" in page.text and token not in page.text
        other = await http.get("/console/sessions/ghost")
        assert other.status_code == 200 and "No messages yet" in other.text
        gone = await http.get("/console/tasks/ghost")
        assert gone.status_code == 404 and "no task" in gone.text
