"""A tiny MCP server (the ``mcp`` SDK) for the research agent example: over stdio by
default, or over streamable HTTP with ``--port N``."""

from __future__ import annotations

import argparse

from mcp.server.mcpserver import MCPServer

server = MCPServer("weather")

FORECASTS = {"lisbon": "sunny, 24 C", "oslo": "snow, -3 C"}


@server.tool()
def forecast(city: str) -> str:
    """Tomorrow's weather in a city."""
    return FORECASTS.get(city.lower(), "no forecast")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    if port:
        server.run(transport="streamable-http", port=port)
    else:
        server.run(transport="stdio")
