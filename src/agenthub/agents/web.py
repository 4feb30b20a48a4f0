"""``web_fetch``: a built-in tool that fetches a page over HTTP(S), as an activity.

Bounded in every direction: connect and read timeouts, at most 5 redirects, a size cap
(the text is cut there and says so), heartbeats with the bytes read so far, and by default
no private, loopback or link-local addresses (a model must not reach the worker's own
network). HTTP errors follow agenthub's taxonomy: 429 and 5xx are retried (honouring
``Retry-After``), other 4xx are not.

Example::

    researcher = AgentSpec(name="researcher", tools=[web_fetch_tool()])
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from temporalio import activity

from agenthub.agents.tools import AgentTool, tool
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


async def _check_address(host: str, allow_private: bool) -> None:
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as err:
        raise InvalidInput(f"cannot resolve {host!r}: {err}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise InvalidInput(
                f"{host!r} resolves to {address}, a private or local address; web_fetch reaches "
                "only public addresses (web_fetch_tool(allow_private_networks=True) to change it)"
            )


def web_fetch_tool(
    *,
    max_bytes: int = 1_000_000,
    timeout: timedelta = timedelta(seconds=60),
    allow_private_networks: bool = False,
    name: str = "web_fetch",
) -> AgentTool:
    """The ``web_fetch`` tool (see the module docstring), with its limits."""
    import httpx

    async def web_fetch(url: str) -> str:
        """Fetch a web page and return its text (cut at the size limit).

        Args:
            url: an http:// or https:// address.
        """
        limits = httpx.Timeout(timeout.total_seconds(), connect=10.0)
        async with httpx.AsyncClient(timeout=limits, follow_redirects=False) as client:
            # Redirects are followed by hand: each target is checked like the first URL.
            for _ in range(_MAX_REDIRECTS + 1):
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise InvalidInput(
                        f"web_fetch needs an http(s) URL with a host, got {url[:200]!r}"
                    )
                await _check_address(parts.hostname, allow_private_networks)
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
