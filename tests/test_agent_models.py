"""Agents against a local OpenAI-compatible model server (real HTTP): model errors follow
agenthub's taxonomy (429 waits for Retry-After, 401 fails at once), tools over MCP (stdio
and streamable HTTP), the built-in web_fetch, tool HTTP errors, transcripts by reference."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from agenthub.agents import AgentSpec, MCPServerSpec, run_agent, tool, web_fetch_tool
from agenthub.agents.testing import ModelServer, call_tools, serving, tools_then_answer
from agenthub.runtime import Settings
from agenthub.testing import running_worker

from .agent_apps import agents_client
from .conftest import free_port

MCP_SERVER = Path(__file__).parent / "mcp_server.py"
MODEL = ModelServer()
CALLS: list[int] = []


@tool(retry="EXTERNAL_API")
async def flaky_api() -> str:
    """Call an API that is rate limited on the first attempt and refuses a bad request."""
    attempt = activity.info().attempt
    CALLS.append(attempt)
    request = httpx.Request("GET", "https://api.example/x")
    if attempt == 1:
        response = httpx.Response(429, headers={"Retry-After": "1"}, request=request)
        raise httpx.HTTPStatusError("rate limited", request=request, response=response)
    return "api ok"


@tool(retry="EXTERNAL_API")
async def forbidden_api() -> str:
    """Call an API that refuses us."""
    CALLS.append(activity.info().attempt)
    request = httpx.Request("GET", "https://api.example/y")
    response = httpx.Response(403, text="no access for this key", request=request)
    raise httpx.HTTPStatusError("forbidden", request=request, response=response)


def specs(mcp_url: str) -> list[AgentSpec]:
    remote = "openai:test-model"
    return [
        AgentSpec(name="remote", model=remote, instructions="Answer."),
        AgentSpec(
            name="remote-mcp",
            model=remote,
            mcp_servers=[
                MCPServerSpec(id="stdio", command=sys.executable, args=[str(MCP_SERVER)]),
                MCPServerSpec(id="http", url=mcp_url, tool_prefix="remote"),
            ],
        ),
        AgentSpec(
            name="remote-web",
            model=remote,
            tools=[web_fetch_tool(allow_private_networks=True, max_bytes=1000)],
        ),
        AgentSpec(name="remote-public", model=remote, tools=[web_fetch_tool()]),
        AgentSpec(name="remote-flaky", model=remote, tools=[flaky_api]),
        AgentSpec(name="remote-forbidden", model=remote, tools=[forbidden_api]),
    ]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def remote(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Client, str, str]]:
    port = free_port()
    mcp_http = subprocess.Popen(
        [sys.executable, str(MCP_SERVER), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    mcp_url = f"http://127.0.0.1:{port}/mcp"
    try:
        async with serving(MODEL) as model:
            settings = Settings(
                data_dir=tmp_path_factory.mktemp("remote"), payload_offload="false",
                openai_base_url=model.url,
            )  # fmt: skip
            client = await agents_client(dev_server_env, settings, *specs(mcp_url))
            async with running_worker(client) as tq:
                yield client, tq, f"http://127.0.0.1:{port}"
    finally:
        mcp_http.terminate()
        mcp_http.wait(10)


@pytest.fixture(autouse=True)
def _reset() -> None:
    MODEL.failures.clear()
    MODEL.reply = tools_then_answer
    MODEL.requests = 0
    MODEL.times.clear()
    CALLS.clear()


async def test_a_rate_limited_model_request_waits_for_retry_after(remote) -> None:
    client, tq, _ = remote
    MODEL.failures.append((429, {"Retry-After": "2"}))
    result = await run_agent(client, "remote", "Hello", task_queue=tq)
    assert result.output.startswith("answer:") and MODEL.requests == 2
    assert MODEL.times[1] - MODEL.times[0] >= 1.5, "the retry waited for Retry-After"


async def test_a_refused_model_request_fails_the_task_at_once(remote) -> None:
    client, tq, _ = remote
    MODEL.failures.extend([(401, {})] * 5)
    with pytest.raises(WorkflowFailureError) as info:
        await run_agent(client, "remote", "Hello", task_queue=tq)
    assert MODEL.requests == 1, "a 401 is not retried"
    assert "401" in str(info.value.cause) or "401" in str(info.value.cause.__cause__)


async def test_a_burst_of_server_errors_is_retried_and_a_bad_request_is_not(remote) -> None:
    client, tq, _ = remote
    MODEL.failures.extend([(500, {}), (502, {}), (503, {})])
    result = await run_agent(client, "remote", "Hello", task_queue=tq)
    assert result.output.startswith("answer:") and MODEL.requests == 4
    MODEL.requests = 0
    MODEL.failures.extend([(400, {})] * 3)
    with pytest.raises(WorkflowFailureError):
        await run_agent(client, "remote", "Hello", task_queue=tq)
    assert MODEL.requests == 1, "a 400 is not retried"


async def test_mcp_tools_over_stdio_and_streamable_http(remote) -> None:
    client, tq, _ = remote

    def reply(body):
        names = sorted(t["function"]["name"] for t in body.get("tools", []))
        results = [m["content"] for m in body["messages"] if m.get("role") == "tool"]
        if results:
            return {"role": "assistant", "content": "answer: " + " | ".join(sorted(results))}
        assert names == ["remote_weather", "weather"], names
        return call_tools(*[(n, {"city": "Lisbon"}) for n in names])

    MODEL.reply = reply
    result = await run_agent(client, "remote-mcp", "Weather?", task_queue=tq)
    assert result.output.count("sunny in Lisbon") == 2, result.output


async def test_web_fetch_reads_pages_with_a_cap_and_refuses_private_addresses(remote) -> None:
    client, tq, mcp_base = remote
    page_url = mcp_base + "/no-such-page"

    def fetch(url: str):
        def reply(body):
            results = [m["content"] for m in body["messages"] if m.get("role") == "tool"]
            if results:
                return {"role": "assistant", "content": "answer: " + " | ".join(results)}
            return call_tools(("web_fetch", {"url": url}))

        return reply

    MODEL.reply = fetch("file:///etc/passwd")
    with pytest.raises(WorkflowFailureError) as info:
        await run_agent(client, "remote-web", "Read it", task_queue=tq)
    assert "needs an http(s) URL" in str(info.value.cause.cause)
    MODEL.reply = fetch(page_url)
    with pytest.raises(WorkflowFailureError) as info:
        await run_agent(client, "remote-public", "Read it", task_queue=tq)
    assert "private or local address" in str(info.value.cause.cause)
    MODEL.reply = fetch(MODEL.url.removesuffix("/v1") + "/page?size=50")
    small = await run_agent(client, "remote-web", "Read it", task_queue=tq)
    assert small.output == "answer: " + "x" * 50
    MODEL.reply = fetch(MODEL.url.removesuffix("/v1") + "/page?size=5000")
    big = await run_agent(client, "remote-web", "Read it", task_queue=tq)
    assert big.output == "answer: " + "x" * 1000 + "\n[cut at 1000 bytes]"
    MODEL.reply = fetch(MODEL.url + "/models")  # the model server answers 405/404: a 4xx
    with pytest.raises(WorkflowFailureError) as info:
        await run_agent(client, "remote-web", "Read it", task_queue=tq)
    cause = info.value.cause.cause
    assert isinstance(cause, ApplicationError) and cause.non_retryable


async def test_tool_http_errors_follow_the_taxonomy(remote) -> None:
    client, tq, _ = remote
    result = await run_agent(client, "remote-flaky", "Go", task_queue=tq)
    assert "api ok" in result.output and CALLS == [1, 2], "429 retried"
    CALLS.clear()
    with pytest.raises(WorkflowFailureError) as info:
        await run_agent(client, "remote-forbidden", "Go", task_queue=tq)
    assert CALLS == [1], "403 not retried"
    cause = info.value.cause.cause
    assert isinstance(cause, ApplicationError) and "403" in cause.message
    assert "no access for this key" in cause.message


async def test_web_fetch_checks_every_redirect_target(monkeypatch: pytest.MonkeyPatch) -> None:
    from agenthub.agents import web
    from agenthub.errors import InvalidInput

    checked: list[str] = []

    async def check(host: str, allow_private: bool) -> str:
        checked.append(host)
        if host == "localhost":  # stands for an internal name a public page redirects to
            raise InvalidInput(f"{host!r} is a private or local address")
        return host

    monkeypatch.setattr(web, "_check_address", check)
    fetch = web_fetch_tool(max_bytes=100).function
    async with serving(ModelServer()) as model:
        base = model.url.removesuffix("/v1")
        port = base.rpartition(":")[2]
        assert await fetch(f"{base}/redirect?to=/page%3Fsize%3D5") == "xxxxx"
        with pytest.raises(InvalidInput, match="'localhost'"):
            await fetch(f"{base}/redirect?to=http://localhost:{port}/page")
    assert checked == ["127.0.0.1", "127.0.0.1", "127.0.0.1", "localhost"]


async def test_web_fetch_connects_to_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # DNS rebinding: the name resolves to a public address for the check and to the worker's
    # own network right after. web_fetch resolves once and connects to what it checked.
    import httpcore

    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.example":
            return real_getaddrinfo(host, *args, **kwargs)
        lookups.append(host)
        address = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]

    connected: list[str] = []
    real_connect = httpcore.AnyIOBackend.connect_tcp

    async def connect_tcp(self: Any, host: str, port: int, **kwargs: Any) -> Any:
        connected.append(host)
        if host == "93.184.216.34":  # no way out of this machine: stands for the public host
            raise httpcore.ConnectError("unreachable from the test")
        return await real_connect(self, host, port, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)
    fetch = web_fetch_tool(max_bytes=100).function
    async with serving(ModelServer()) as model:
        port = model.url.removesuffix("/v1").rpartition(":")[2]
        with pytest.raises(httpx.ConnectError):
            await fetch(f"http://rebind.example:{port}/page?size=5")
    assert lookups == ["rebind.example"] and connected == ["93.184.216.34"]


async def test_web_fetch_over_tls_verifies_the_host_name_at_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # The request goes to the checked address, and TLS still names the host (SNI, and the
    # certificate is verified against it): a certificate for another name is refused.
    import http.server
    import ssl
    import subprocess
    import threading

    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"),
         "-subj", "/CN=pinned.test", "-addext", "subjectAltName=DNS:pinned.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"host={self.headers['Host']} sni-ok".encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Echo)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "pinned.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
    fetch = web_fetch_tool(allow_private_networks=True).function
    try:
        assert await fetch(f"https://pinned.test:{port}/") == (f"host=pinned.test:{port} sni-ok")
        with pytest.raises(httpx.ConnectError):  # the certificate names pinned.test
            await fetch(f"https://127.0.0.1:{port}/")
    finally:
        server.shutdown()
