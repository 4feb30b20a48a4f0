"""``web_fetch``: a built-in tool that fetches a page over HTTP(S), as an activity.

Bounded in every direction: connect and read timeouts, at most 5 redirects, a size cap
(the text is cut there and says so), heartbeats with the bytes read so far, and by default
no private, loopback or link-local addresses (a model must not reach the worker's own
network): each connection goes to the address that was checked, so a host that resolves to
a public address for the check and to an internal one a moment later (DNS rebinding) still
reaches only the public one. HTTP errors follow agenthub's taxonomy: 429 and 5xx are
retried (honouring ``Retry-After``), other 4xx are not.

Example::

    researcher = AgentSpec(name="researcher", tools=[web_fetch_tool()])
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from temporalio import activity

from agenthub.agents.tools import AnyTool, tool
from agenthub.errors import InvalidInput

__all__ = ["web_fetch_tool"]

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")
_MAX_REDIRECTS = 5
_HEADERS = {"user-agent": "agenthub-web-fetch"}


async def _read(response: Any, max_bytes: int) -> str:
    if response.is_error:
        await response.aread()  # the error's body names the reason
    response.raise_for_status()
    kind = response.headers.get("content-type", "")
    if kind and not kind.startswith(_TEXT_TYPES):
        return f"[{kind} content, not text; not read]"
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if activity.in_activity():
            activity.heartbeat(len(body))
        if len(body) >= max_bytes:
            break
    text = bytes(body[:max_bytes]).decode(response.encoding or "utf-8", errors="replace")
    if len(body) >= max_bytes:
        text += f"\n[cut at {max_bytes} bytes]"
    return text


async def _check_address(host: str, allow_private: bool) -> str:
    """Resolve ``host`` once and return the address to connect to, refusing a host with any
    non-public address unless ``allow_private``."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as err:
        raise InvalidInput(f"cannot resolve {host!r}: {err}") from None
    if not infos:
        raise InvalidInput(f"cannot resolve {host!r}: no address")
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not (allow_private or address.is_global):
            raise InvalidInput(
                f"{host!r} resolves to {address}, a private or local address; web_fetch reaches "
                "only public addresses (web_fetch_tool(allow_private_networks=True) to change it)"
            )
    return str(infos[0][4][0])


def _checked_transport(allow_private: bool, ssl_context: ssl.SSLContext) -> Any:
    """An httpx transport whose every request goes to the address that was checked.

    Before each request (redirects included) the host is resolved once and checked; the
    request is then sent to that address, with the host name kept where it belongs: in the
    ``Host`` header, and as the TLS server name through httpx's public ``sni_hostname``
    extension, so the certificate is still verified against the host name. A second lookup,
    which a hostile DNS server could answer with an internal address (DNS rebinding), never
    happens. No proxy from the environment is used: a proxy would connect on its own.
    """
    import httpx

    class CheckedTransport(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport(verify=ssl_context, trust_env=False)

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            host = request.url.host
            address = await _check_address(host, allow_private)
            if address != host:
                request.url = request.url.copy_with(host=address)
                request.headers["Host"] = (
                    host if request.url.port is None else (f"{host}:{request.url.port}")
                )
                request.extensions = {**request.extensions, "sni_hostname": host}
            return await self.inner.handle_async_request(request)

        async def aclose(self) -> None:
            await self.inner.aclose()

    return CheckedTransport()


def web_fetch_tool(
    *,
    max_bytes: int = 1_000_000,
    timeout: timedelta = timedelta(seconds=60),
    allow_private_networks: bool = False,
    name: str = "web_fetch",
) -> AnyTool:
    """The ``web_fetch`` tool (see the module docstring), with its limits."""
    import httpx

    # Loading the CA bundle takes milliseconds: once per tool, not per fetch. It honours
    # SSL_CERT_FILE / SSL_CERT_DIR, as httpx's default does.
    ssl_context = httpx.create_ssl_context()

    async def web_fetch(url: str) -> str:
        """Fetch a web page and return its text (cut at the size limit).

        Args:
            url: an http:// or https:// address.
        """
        limits = httpx.Timeout(timeout.total_seconds(), connect=10.0)
        transport = _checked_transport(allow_private_networks, ssl_context)
        async with httpx.AsyncClient(
            timeout=limits, follow_redirects=False, transport=transport, trust_env=False
        ) as client:
            # Redirects are followed by hand; every connection, to the first URL's host or to
            # a redirect's, is checked as it opens (``_checked_transport``).
            for _ in range(_MAX_REDIRECTS + 1):
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise InvalidInput(
                        f"web_fetch needs an http(s) URL with a host, got {url[:200]!r}"
                    )
                request = client.build_request("GET", url, headers=_HEADERS)
                response = await client.send(request, stream=True)
                try:
                    if response.is_redirect and "location" in response.headers:
                        url = str(response.url.join(response.headers["location"]))
                        continue
                    return await _read(response, max_bytes)
                finally:
                    await response.aclose()
        raise InvalidInput(f"web_fetch stopped after {_MAX_REDIRECTS} redirects")

    return tool(name=name, timeout=timeout, retry="EXTERNAL_API")(web_fetch)
