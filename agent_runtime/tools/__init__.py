"""Tools as the loop sees them: `build_tools` picks, per catalog tool, a Lambda function when one is
configured (`Settings.tool_functions`) and the in-process implementation otherwise, and adds the tools
of the agent's MCP servers (`agent_runtime.mcp.tools`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from agent_runtime.errors import ConfigurationError
from agent_runtime.mcp.declaration import McpServerDeclaration
from agent_runtime.settings import Settings
from agent_runtime.tools.backends import documents_for, reports_for
from agent_runtime.tools.base import Tool
from agent_runtime.tools.local import LocalTool
from lambda_tools.catalog import CATALOG, TOOL_NAMES, get_tool

__all__ = ["LambdaTool", "LocalTool", "Tool", "build_tools"]


def __getattr__(name: str) -> Any:
    # botocore is imported only when a Lambda-backed tool is wanted: the local CLI starts faster.
    if name == "LambdaTool":
        from agent_runtime.tools.lambda_ import LambdaTool

        return LambdaTool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_tools(
    tool_names: Iterable[str],
    settings: Settings,
    *,
    docs_dir: Path | None = None,
    data_dir: Path | None = None,
    lambda_client: Any = None,
    mcp_servers: Sequence[McpServerDeclaration] = (),
) -> dict[str, Tool]:
    """The named tools, keyed by name: Lambda-backed where `settings.tool_functions` names a function;
    then the allowed tools of `mcp_servers` (an agent's `AgentSpec.mcp_servers`)."""
    names = list(dict.fromkeys(tool_names))
    unknown = [n for n in names if n not in TOOL_NAMES]
    if unknown:
        raise ConfigurationError(f"unknown tool(s) {unknown}; known tools: {', '.join(TOOL_NAMES)}")
    stray = sorted(set(settings.tool_functions) - set(TOOL_NAMES))
    if stray:
        raise ConfigurationError(f"tool_functions names unknown tool(s) {stray}; known tools: {', '.join(TOOL_NAMES)}")
    tools: dict[str, Tool] = {}
    local_needed = [n for n in names if not settings.tool_functions.get(n)]
    documents = documents_for(settings, docs_dir) if local_needed else None
    reports = reports_for(settings, data_dir) if "publish_report" in local_needed else None
    for name in names:
        spec = get_tool(name)
        function = settings.tool_functions.get(name)
        if function:
            from agent_runtime.tools.lambda_ import LambdaTool, make_lambda_client

            # One call in flight per concurrent task: that many executor threads and pooled connections.
            if lambda_client is None:
                lambda_client = make_lambda_client(max(s.timeout_s for s in CATALOG),
                                                   max_calls=settings.worker_concurrency)
            tools[name] = LambdaTool(spec, function, client=lambda_client, max_calls=settings.worker_concurrency)
        else:
            tools[name] = LocalTool(spec, documents=documents, reports=reports, max_threads=settings.worker_concurrency)
    if mcp_servers:
        from agent_runtime.mcp.tools import mcp_tools

        tools.update(mcp_tools(mcp_servers))
    return tools
