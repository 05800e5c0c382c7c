"""The tool catalog over MCP: `catalog_server` serves the seven tools to any MCP client (an IDE, another
agent framework) with the catalog's own input schemas and the runtime's own tools (the local backends,
or the Lambda functions when `AGENT_PLATFORM_TOOL_FUNCTIONS` names them).

The approval rule is the loop's: a sensitive tool (`publish_report`) runs only once a human approved the
call. Over MCP the client is asked through form elicitation (a boolean `confirm` field): as a
server-to-client `elicitation/create` request on handshake-era connections, as an `input_required`
result on 2026-07-28 connections (the client answers and retries the call; the answer counts only for
the arguments it was asked about). A client that declared no form elicitation gets the call refused,
with a message saying why; a decline, a cancel or `confirm: false` refuses it too. Nothing runs then.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

import mcp_types as types
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp_types.version import is_version_at_least
from pydantic import BaseModel

from agent_runtime.errors import ToolInputError
from agent_runtime.models.base import ToolCall
from agent_runtime.tool_calls import invoke
from agent_runtime.tools.base import Tool, writes
from agent_runtime.tools.local import validated

SERVER_NAME = "agent-platform"
CONFIRM = "confirm"  # the key of the confirmation in `input_requests` and the form's one field
INPUT_REQUIRED_VERSION = "2026-07-28"
INSTRUCTIONS = ("The agent platform's tools: search and read documents, summarise, extract entities, classify, "
                "analyse data, and publish reports (publishing asks you to confirm first).")


def listed_tool(tool: Tool) -> types.Tool:
    """A catalog tool as MCP lists it: the description the model sees and the same input schema."""
    spec = tool.spec
    openai = spec.openai_tool()["function"]
    return types.Tool(
        name=spec.name, description=openai["description"], input_schema=spec.parameters_schema(),
        annotations=types.ToolAnnotations(read_only_hint=not writes(spec), destructive_hint=spec.sensitive,
                                          idempotent_hint=not writes(spec), open_world_hint=spec.name == "fetch_document"),
    )


def confirmation_form(tool: str, args: BaseModel) -> types.ElicitRequestFormParams:
    """What the client shows its user before a sensitive call: the tool, its arguments, one checkbox."""
    shown = json.dumps(args.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
    message = f"{tool} acts on the world (it is a sensitive tool). Allow this call?\n{tool}({shown[:2000]})"
    schema: dict[str, Any] = {"type": "object", "required": [CONFIRM], "properties": {
        CONFIRM: {"type": "boolean", "title": f"Run {tool}", "description": "Tick to allow this call."}}}
    return types.ElicitRequestFormParams(message=message, requested_schema=schema)


def _asked_about(tool: str, args: BaseModel) -> str:
    """The request state of a confirmation: which call (tool and arguments) it was asked for."""
    text = json.dumps([tool, args.model_dump(mode="json")], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def can_confirm(capabilities: types.ClientCapabilities | None) -> bool:
    """Whether the client declared form elicitation (a bare `elicitation: {}` counts as form)."""
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def confirm(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams,
                  args: BaseModel) -> types.InputRequiredResult | str | None:
    """None once the client's user confirmed the call; else the refusal's message, or (2026-07-28, first
    round) the `input_required` result that asks."""
    name = params.name
    if not can_confirm(ctx.session.client_capabilities):
        return (f"{name} is sensitive: it runs only after a human confirms it, and this MCP client cannot ask "
                "(it declared no form elicitation). The call was refused; nothing was done.")
    form = confirmation_form(name, args)
    answer: Any
    if ctx.protocol_version and is_version_at_least(ctx.protocol_version, INPUT_REQUIRED_VERSION):
        asked = _asked_about(name, args)
        answer = (params.input_responses or {}).get(CONFIRM)
        if answer is None or params.request_state != asked:
            return types.InputRequiredResult(input_requests={CONFIRM: types.ElicitRequest(params=form)},
                                             request_state=asked)
    else:
        answer = await ctx.session.elicit_form(form.message, form.requested_schema, related_request_id=ctx.request_id)
    if not isinstance(answer, types.ElicitResult) or answer.action != "accept":
        action = getattr(answer, "action", "no answer")
        return f"{name} was not confirmed (the user chose {action}); nothing was done."
    if (answer.content or {}).get(CONFIRM) is not True:
        return f"{name} was not confirmed ({CONFIRM} was not ticked); nothing was done."
    return None


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def catalog_server(tools: Mapping[str, Tool], *, name: str = SERVER_NAME, version: str = "") -> Server[Any]:
    """An MCP server (the SDK's low-level `Server`) over `tools`; run it with a transport (stdio, HTTP)."""

    async def list_tools(ctx: ServerRequestContext[Any, Any],
                         params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[listed_tool(tool) for tool in tools.values()])

    async def call_tool(ctx: ServerRequestContext[Any, Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult | types.InputRequiredResult:
        tool = tools.get(params.name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}; tools: {', '.join(tools)}")
        try:
            args = validated(tool.spec, params.arguments or {})
        except ToolInputError as exc:
            return _error(f"ERROR: {exc}")
        if tool.spec.sensitive:
            refused = await confirm(ctx, params, args)
            if isinstance(refused, types.InputRequiredResult):
                return refused
            if refused is not None:
                return _error(f"ERROR: {refused}")
        call = ToolCall(f"call_{uuid.uuid4().hex[:12]}", params.name, "")
        observed = await invoke(tool, args, call, limit_s=tool.spec.timeout_s, task_id=f"mcp-{uuid.uuid4().hex}")
        text = observed.text
        if not observed.ok:
            return _error(text)
        structured = None
        try:
            structured = json.loads(text)
        except ValueError:  # truncated: the text alone
            pass
        return types.CallToolResult(content=[types.TextContent(text=text)],
                                    structured_content=structured if isinstance(structured, dict) else None)

    return Server(name, version=version, instructions=INSTRUCTIONS, on_list_tools=list_tools, on_call_tool=call_tool)
