"""The catalog's MCP server over streamable HTTP, behind the task API's key check.

The endpoint is `/mcp`. Every request to it passes the API's `Gate` first (401 without a valid
`Authorization: Bearer <key>`, 429 over the principal's rate), with the same keys as the API (the local
server's generated key file, AGENT_PLATFORM_API_KEYS, the principals' key file, or the Secrets Manager
secret in AWS); calling tools takes the `submit` role (admins hold it), like submitting a task.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from agent_runtime.api.auth import KeySource
from agent_runtime.api.errors import error_response
from agent_runtime.api.gate import Gate, RateLimiter, principal_of

MCP_PATH = "/mcp"
ROLE = "submit"


class RequireRole:
    """403 for an authenticated principal without `role` (the gate before it authenticated the request)."""

    def __init__(self, app: ASGIApp, role: str = ROLE) -> None:
        self.app, self.role = app, role

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(MCP_PATH):
            principal = principal_of(scope)
            if principal is None or not principal.has(self.role):
                who = principal.name if principal is not None else "the caller"
                await error_response(403, "forbidden", f"principal {who!r} may not call tools: it needs the "
                                     f"{self.role!r} role")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_app(server: Any, keys: KeySource, *, host: str = "127.0.0.1", limiter: RateLimiter | None = None) -> Any:
    """An ASGI app serving `server` (a low-level MCP `Server`) at `/mcp`, keys checked before anything else.

    Bound to a loopback `host`, the SDK also refuses requests whose Host or Origin header is not a
    loopback one (DNS rebinding protection)."""
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    return Gate(RequireRole(app), keys, limiter or RateLimiter(per_s=0.0, burst=1.0), prefix=MCP_PATH)
