import sys

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("trip-info")


@mcp.tool()
def weather(city: str) -> str:
    """Weather in a city."""
    return f"sunny in {city}"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        mcp.run(transport="streamable-http", port=int(sys.argv[1]))
    else:
        mcp.run(transport="stdio")
