"""Tools the playbooks do not know (an agent's MCP tools), consulted generically.

The offline planner cannot know what an unknown tool wants, so it calls only the ones whose input it
can fill from the task alone: no required argument, or exactly one required string argument (given
the task's search terms). It calls each such tool once, first, skips the sensitive ones (it never
asks a human to approve a guess), and quotes their results at the end of its answer.
"""

from __future__ import annotations

import json
from typing import Any

from agent_runtime.agents import AgentSpec
from agent_runtime.models.base import ModelReply
from agent_runtime.models.offline.plan import Plan
from agent_runtime.models.offline.rendering import one_line
from lambda_tools.catalog import TOOL_NAMES


def fillable_arguments(parameters: dict[str, Any], query: str) -> dict[str, Any] | None:
    """Arguments for a tool with these parameters from the task's `query`, or None when it needs more."""
    required = parameters.get("required") or []
    if not required:
        return {}
    if len(required) > 1:
        return None
    prop = (parameters.get("properties") or {}).get(required[0]) or {}
    return {required[0]: query} if prop.get("type") == "string" else None


def consult_calls(plan: Plan, tools: list[dict[str, Any]], agent: AgentSpec) -> list[tuple[str, dict[str, Any]]]:
    """The calls to the agent's non-catalog, non-sensitive tools not made yet whose input the task fills."""
    sensitive = {name for server in agent.mcp_servers for name in server.sensitive}
    calls = []
    for tool in tools:
        function = tool.get("function") or {}
        name = function.get("name")
        if not name or name in TOOL_NAMES or name in sensitive or plan.state.of(name):
            continue
        args = fillable_arguments(function.get("parameters") or {}, plan.query or plan.state.task)
        if args is not None:
            calls.append((name, args))
    return calls


def consulted_lines(plan: Plan) -> list[str]:
    """The answer's section quoting the consulted tools' results (empty when none was called)."""
    calls = [c for c in plan.state.calls if c.name not in TOOL_NAMES]
    if not calls:
        return []
    lines = ["", "### From the agent's other tools", ""]
    for call in calls:
        said = json.dumps(call.data, ensure_ascii=False) if call.ok else f"error: {call.error or ''}"
        if call.ok and set(call.data) <= {"result", "content"}:
            said = str(call.data.get("result", call.data.get("content", "")))
        shown = ", ".join(f"{k}={one_line(str(v), 60)}" for k, v in call.args.items()) or "no arguments"
        lines.append(f"- `{call.name}` ({shown}): {one_line(said, 300)}")
    return lines


def with_consulted(plan: Plan, tools: list[dict[str, Any]], agent: AgentSpec, reply: ModelReply) -> ModelReply:
    """The playbook's `reply`, preceded by a step consulting the unknown tools, or followed (in the answer)
    by what they said."""
    calls = consult_calls(plan, tools, agent)
    if calls and not plan.state.calls:
        return plan.calls(f"Consulting {', '.join(name for name, _ in calls)} first.", calls)
    if not reply.tool_calls:
        extra = consulted_lines(plan)
        if extra and not plan.tools & set(TOOL_NAMES):  # nothing from the playbook: no catalog tool to search with
            return plan.answer([plan.heading(), *extra])
        if extra:
            reply.text = reply.text.rstrip("\n") + "\n" + "\n".join(extra) + "\n"
    return reply
