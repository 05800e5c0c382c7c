"""`agent-platform mcp`: the seven catalog tools served to MCP clients (IDEs, other agents).

Over stdio by default (the client starts this command; stdout carries only MCP messages, notes go to
stderr), or over streamable HTTP with `--http` at `http://HOST:PORT/mcp`, where a request needs the
task API's bearer key (the local server's key file in the data directory, or AGENT_PLATFORM_API_KEYS).
The tools run as in `run` and `serve`: in process over the built-in corpus or `--docs`, reports under
the data directory, or on Lambda when AGENT_PLATFORM_TOOL_FUNCTIONS names the functions.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agent_runtime.cli.options import builtin_corpus, fail, settings_or_fail
from agent_runtime.errors import ConfigurationError

log = logging.getLogger(__name__)


def mcp(
    http: Annotated[bool, typer.Option(
        "--http", help="Serve streamable HTTP at /mcp (bearer key like the API) instead of stdio.")] = False,
    host: Annotated[str, typer.Option("--host", help="With --http: address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="With --http: port to listen on.")] = 8090,
    docs: Annotated[Path | None, typer.Option(
        "--docs", help="Folder of .md/.txt/.csv/.json documents (default: the built-in Python docs corpus).")] = None,
) -> None:
    """Serve the tool catalog over MCP (stdio, or streamable HTTP with --http); publish_report asks the
    client to confirm each call."""
    from agent_runtime.mcp.server import catalog_server
    from agent_runtime.observability import configure_logging
    from agent_runtime.tools import build_tools
    from lambda_tools.catalog import TOOL_NAMES

    if docs is not None and not docs.is_dir():
        fail(f"--docs {docs}: no such folder")
    settings = settings_or_fail()
    configure_logging(settings.log_level, json_logs=not sys.stderr.isatty())
    on_lambda = set(settings.tool_functions) >= set(TOOL_NAMES)
    docs_dir = docs or settings.docs_dir
    if docs_dir is None and settings.documents_bucket is None and not on_lambda:
        docs_dir = builtin_corpus(Console(stderr=True), settings.corpus_dir, quiet=False)
    try:
        tools = build_tools(TOOL_NAMES, settings, docs_dir=docs_dir, data_dir=settings.data_dir)
    except ConfigurationError as exc:
        fail(str(exc))
    server = catalog_server(tools)
    if not http:
        import anyio
        from mcp.server.stdio import stdio_server

        async def over_stdio() -> None:
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(over_stdio)
        return
    import uvicorn

    from agent_runtime.api.gate import RateLimiter
    from agent_runtime.mcp.http import MCP_PATH, http_app
    from agent_runtime.server import build_keys, proxy_options

    keys, key_file = build_keys(settings)
    app = http_app(server, keys, host=host,
                   limiter=RateLimiter(per_s=settings.rate_limit_per_s, burst=settings.rate_limit_burst))
    log.info("serving the tool catalog over MCP on http://%s:%d%s", host, port, MCP_PATH)
    if key_file is not None:
        log.info("API key in %s (send it as 'Authorization: Bearer <key>')", key_file)
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), log_config=None,
                timeout_graceful_shutdown=5, **proxy_options(settings))
