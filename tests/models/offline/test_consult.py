"""The offline planner and tools it does not know (an agent's MCP tools): it consults, once and first, the
ones whose input the task fills, never a sensitive one, and quotes what they said in its answer."""

from __future__ import annotations

import json

from agent_runtime.agent_file import AgentSpec
from agent_runtime.mcp.declaration import McpServerDeclaration
from agent_runtime.models.offline import OfflineModel
from lambda_tools.catalog import get_tool


def _function(name: str, parameters: dict) -> dict:
    return {"type": "function", "function": {"name": name, "description": name, "parameters": parameters}}


ONE_STRING = {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}
TWO_REQUIRED = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "required": ["a", "b"]}
NOTES = McpServerDeclaration(name="notes", command="notes-mcp", tools=("lookup_note", "file_ticket", "compare", "today"),
                             sensitive=("file_ticket",))
TOOLS = [get_tool("search_documents").openai_tool(), _function("lookup_note", ONE_STRING),
         _function("file_ticket", ONE_STRING), _function("compare", TWO_REQUIRED),
         _function("today", {"type": "object", "properties": {}})]


async def test_the_first_step_consults_the_tools_the_task_can_fill_and_no_sensitive_one() -> None:
    model = OfflineModel(AgentSpec(name="helpdesk", description="d", instructions="i", tools=("search_documents",),
                                   mcp_servers=(NOTES,)))
    messages = [{"role": "system", "content": "i"}, {"role": "user", "content": "How do asyncio tasks start?"}]
    first = await model.complete(messages, TOOLS)
    assert [(c.name, json.loads(c.arguments)) for c in first.tool_calls] == [
        ("lookup_note", {"topic": "asyncio tasks start"}), ("today", {})]
    messages += [{"role": "assistant", "content": first.text, "tool_calls": [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in first.tool_calls]},
        {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": '{"result": "asyncio: create_task()"}'},
        {"role": "tool", "tool_call_id": first.tool_calls[1].id, "content": "ERROR: today failed: no clock"}]
    second = await model.complete(messages, TOOLS)
    assert [c.name for c in second.tool_calls] == ["search_documents"]  # then the playbook, as without MCP tools


async def test_an_agent_with_only_mcp_tools_answers_with_what_they_said() -> None:
    model = OfflineModel(AgentSpec(name="helpdesk", description="d", instructions="i", tools=(), mcp_servers=(NOTES,)))
    tools = TOOLS[1:]
    messages = [{"role": "system", "content": "i"}, {"role": "user", "content": "What about asyncio?"}]
    first = await model.complete(messages, tools)
    messages += [{"role": "assistant", "content": first.text, "tool_calls": [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in first.tool_calls]}] + [
        {"role": "tool", "tool_call_id": c.id, "content": '{"result": "asyncio: create_task() starts a task"}'}
        for c in first.tool_calls]
    answer = (await model.complete(messages, tools)).text
    assert "No document" not in answer
    assert "- `lookup_note` (topic=asyncio): asyncio: create_task() starts a task" in answer
