"""An agent's MCP tools: each allowed tool of each declared MCP server as a `Tool` the loop calls like a
catalog tool (validation, timeout, approval when sensitive, events, the result counted in the tokens).

`mcp_tools` connects to each server once while the agent's tools are built, lists its tools and keeps
the allowed ones with the schema the server gives (a missing tool or an unreachable server is a
`ConfigurationError` naming the server: the agent does not start with tools it cannot call). Calls then
go through one `McpConnection` per server, opened on the first call in the running event loop and kept
for the process (a stdio server runs as one child process; a broken connection is reopened on the next
call). Asyncio ends the connection with its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterable
from typing import Any

from pydantic import BaseModel

from agent_runtime.errors import ConfigurationError, ToolError
from agent_runtime.mcp.arguments import arguments_model
from agent_runtime.mcp.declaration import McpServerDeclaration
from agent_runtime.redact import redact, register_secret
from lambda_tools.spec import ToolContext, ToolSpec

log = logging.getLogger(__name__)

# How long listing a server's tools may take while the agent's tools are built.
LIST_TIMEOUT_S = 30.0
MAX_RESULT_CHARS = 50_000


def server_token(server: McpServerDeclaration, *, secrets_client: Any = None) -> str | None:
    """The bearer token of an HTTP server: `token_env` when that variable is set, else the value of the
    Secrets Manager secret `secret` (AWS); registered for redaction."""
    token = os.environ.get(server.token_env, "").strip() if server.token_env else ""
    if not token and server.secret:
        import boto3

        client = secrets_client or boto3.client("secretsmanager")
        try:
            token = client.get_secret_value(SecretId=server.secret)["SecretString"].strip()
        except Exception as exc:
            raise ConfigurationError(f"MCP server {server.name!r}: cannot read secret {server.secret!r} "
                                     f"({type(exc).__name__})") from None
    if server.token_env and not token and not server.secret:
        raise ConfigurationError(f"MCP server {server.name!r}: set {server.token_env} to its bearer token")
    if token:
        register_secret(token)
    return token or None


class McpConnection:
    """A client session with one MCP server, owned by a task of the running loop (see the module docstring)."""

    def __init__(self, server: McpServerDeclaration, *, token: str | None = None) -> None:
        self.server, self.token = server, token
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owner: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[Any] | None = None
        self._stop: asyncio.Event | None = None

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[Any]:
        """A connected `mcp.Client` for the server (stdio: the command is started; HTTP: the URL with the token)."""
        from mcp import Client, StdioServerParameters

        if self.server.command is not None:
            params = StdioServerParameters(command=self.server.command, args=list(self.server.args))
            async with Client(params, read_timeout_seconds=float(self.server.timeout_s)) as client:
                yield client
            return
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        assert self.server.url is not None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        timeout = httpx2.Timeout(30.0, read=float(self.server.timeout_s) + 5)
        async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http, \
                Client(streamable_http_client(self.server.url, http_client=http),
                       read_timeout_seconds=float(self.server.timeout_s)) as client:
            yield client

    async def client(self) -> Any:
        """The session of this loop, opened when there is none (or the last one broke)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._owner is None or self._owner.done():
            self._loop, self._ready, self._stop = loop, loop.create_future(), asyncio.Event()
            self._owner = loop.create_task(self._own(self._ready, self._stop), name=f"mcp-{self.server.name}")
        assert self._ready is not None
        return await asyncio.shield(self._ready)

    async def _own(self, ready: asyncio.Future[Any], stop: asyncio.Event) -> None:
        try:
            async with self.open() as client:
                ready.set_result(client)
                await stop.wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(ToolError(f"cannot reach MCP server {self.server.name!r}: {_cause(exc)}",
                                              retryable=True))
            else:
                log.warning("MCP server connection ended", extra={"server": self.server.name, "error": _cause(exc)})

    def reset(self) -> None:
        """Drop the session (after a transport failure): the next call opens a new one."""
        if self._stop is not None:
            self._stop.set()
        self._owner = None

    async def aclose(self) -> None:
        """End the session and wait for it to close (a stdio server's process ends with it)."""
        owner = self._owner
        self.reset()
        if owner is not None and not owner.done() and owner.get_loop() is asyncio.get_running_loop():
            await asyncio.gather(owner, return_exceptions=True)

    async def list_tools(self) -> list[Any]:
        """Every tool the server lists (all pages)."""
        async with self.open() as client:
            tools, cursor = [], None
            while True:
                page = await client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    return tools


class McpTool:
    """One tool of an MCP server, called through the server's `McpConnection`."""

    def __init__(self, spec: ToolSpec, connection: McpConnection) -> None:
        self.spec, self.connection = spec, connection

    def __repr__(self) -> str:
        return f"McpTool({self.spec.name!r}, server={self.connection.server.name!r})"

    async def invoke(self, args: BaseModel, *, task_id: str, call_id: str) -> dict[str, Any]:
        """The tool's result as a dict; `ToolError` when the server reports an error or cannot be reached."""
        from mcp import MCPError

        arguments = args.model_dump(mode="json")
        client = await self.connection.client()
        try:
            result = await client.call_tool(self.spec.name, arguments,
                                             read_timeout_seconds=float(self.spec.timeout_s))
        except MCPError as exc:
            raise ToolError(f"MCP server {self.connection.server.name!r}: {exc.message}") from None
        except TimeoutError:  # the call's own limit: the session stays
            raise
        except Exception as exc:  # the transport broke: reconnect on the next call
            self.connection.reset()
            raise ToolError(f"MCP server {self.connection.server.name!r} failed: {_cause(exc)}",
                            retryable=True) from None
        return result_data(result)


def result_data(result: Any) -> dict[str, Any]:
    """A `CallToolResult` as the dict a tool returns: its structured content when it is an object, else
    its text (a JSON object in the text is parsed); an error result raises `ToolError` with its text."""
    texts = [getattr(block, "text", None) or f"[{getattr(block, 'type', 'content')}]" for block in result.content]
    text = "\n".join(texts)[:MAX_RESULT_CHARS]
    if result.is_error:
        raise ToolError(text or "the tool reported an error without a message")
    if isinstance(result.structured_content, dict):
        return result.structured_content
    with contextlib.suppress(ValueError):
        parsed = json.loads(text)
        if isinstance(parsed, dict):
            return parsed
    return {"content": text}


def _cause(exc: BaseException) -> str:
    """The innermost message of an exception (task groups wrap the real one), redacted."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return redact(f"{type(exc).__name__}: {exc}".rstrip(": "))


def _unused_run(_: Any, __: ToolContext) -> dict[str, Any]:
    raise ToolError("an MCP tool runs on its server")


def _listed(server: McpServerDeclaration, connection: McpConnection) -> dict[str, Any]:
    """The server's listed tools by name, listed in a thread of its own (the caller may be inside a loop)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["tools"] = asyncio.run(asyncio.wait_for(connection.list_tools(), LIST_TIMEOUT_S))
        except BaseException as exc:  # reported by the caller
            box["error"] = exc

    thread = threading.Thread(target=work, name=f"mcp-list-{server.name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise ConfigurationError(f"MCP server {server.name!r}: cannot list its tools "
                                 f"({_cause(box['error'])})") from None
    return {tool.name: tool for tool in box["tools"]}


def mcp_tools(servers: Iterable[McpServerDeclaration]) -> dict[str, McpTool]:
    """The allowed tools of `servers`, keyed by name, with the schemas and descriptions their servers list."""
    tools: dict[str, McpTool] = {}
    for server in servers:
        connection = McpConnection(server, token=server_token(server) if server.url else None)
        listed = _listed(server, connection)
        missing = [name for name in server.tools if name not in listed]
        if missing:
            raise ConfigurationError(f"MCP server {server.name!r} does not offer {', '.join(map(repr, missing))}; "
                                     f"it offers: {', '.join(sorted(listed)) or 'no tools'}")
        for name in server.tools:
            listing = listed[name]
            spec = ToolSpec(name=name, description=(listing.description or f"{name} (MCP server {server.name})"),
                            input_model=arguments_model(name, dict(listing.input_schema)), run=_unused_run,
                            handler=f"mcp:{server.name}", sensitive=name in server.sensitive,
                            timeout_s=server.timeout_s)
            tools[name] = McpTool(spec, connection)
    return tools
