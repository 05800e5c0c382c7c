"""A small MCP server of team notes, for the tests of agents' MCP tools (built with the SDK's `MCPServer`).

`python -m tests.fakes.mcp_notes_server` serves it over stdio; `--http PORT` over streamable HTTP on
127.0.0.1, where it answers only requests bearing `--token`. Tools: `lookup_note` (read) and
`file_ticket` (writes a line to `--tickets FILE`, so a test can see whether it ran; declared sensitive),
`wait_seconds` (slow, for timeouts).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anyio
from mcp.server.mcpserver import MCPServer

NOTES = {
    "deploys": "Blue/green deploys switch the load balancer between two fleets; roll back by switching back.",
    "asyncio": "asyncio.create_task() schedules a coroutine on the running event loop and returns a Task.",
}


def build(tickets: Path | None) -> MCPServer:
    server = MCPServer("notes")

    @server.tool()
    def lookup_note(topic: str) -> str:
        """The team's note on a topic (deploys, asyncio), or the topics there are."""
        for key, note in NOTES.items():
            if key in topic.lower():
                return f"{key}: {note}"
        return f"no note on {topic!r}; topics: {', '.join(NOTES)}"

    @server.tool()
    def file_ticket(title: str) -> str:
        """File a ticket for the team (it acts on the world)."""
        if tickets is not None:
            with tickets.open("a", encoding="utf-8") as f:
                f.write(title + "\n")
        return f"filed: {title}"

    @server.tool()
    async def wait_seconds(seconds: float) -> str:
        """Wait, then say so (a slow tool, for timeouts)."""
        await anyio.sleep(seconds)
        return f"waited {seconds} s"

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=0)
    parser.add_argument("--token", default="")
    parser.add_argument("--tickets", type=Path, default=None)
    options = parser.parse_args()
    server = build(options.tickets)
    if not options.http:
        server.run()
        return
    import uvicorn
    from starlette.responses import JSONResponse

    app = server.streamable_http_app()

    async def guarded(scope, receive, send):  # type: ignore[no-untyped-def]
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and headers.get(b"authorization") != f"Bearer {options.token}".encode():
            await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
            return
        await app(scope, receive, send)

    uvicorn.run(guarded, host="127.0.0.1", port=options.http, log_level="warning")


if __name__ == "__main__":
    main()
