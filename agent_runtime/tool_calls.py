"""Tool calls as the loop handles them: arguments parsed, a tool run under its timeout with every
failure turned into text the model can act on, and the calls a resumed conversation still owes."""

from __future__ import annotations

import asyncio
import json
from typing import Any, NamedTuple

from pydantic import BaseModel

from agent_runtime.errors import ToolError, ToolInputError, ToolTimeoutError
from agent_runtime.models.base import Message, ToolCall
from agent_runtime.redact import redact
from agent_runtime.tools.base import Tool

# The model sees at most this much of one tool result.
MAX_OBSERVATION_CHARS = 12_000

class Observation(NamedTuple):
    """What a call came to: ok, the text the model reads, the error for the event, and its kind for traces."""

    ok: bool
    text: str
    error: str | None = None
    error_type: str | None = None  # unknown_tool, invalid_arguments, rejected, timeout, tool_error...


def failure(message: str, error_type: str = "tool_error") -> Observation:
    """A failed call: the model reads the message as the call's result. A tool's error may echo a
    credential (its own keys, a header): redacted before the model, the events or the store see it."""
    message = redact(message)
    return Observation(False, f"ERROR: {message}", message, error_type)


def parse_arguments(call: ToolCall) -> dict[str, Any] | str:
    """The call's arguments as a JSON object, or the raw text when they are not one."""
    try:
        parsed = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        return call.arguments
    return parsed if isinstance(parsed, dict) else call.arguments


async def invoke(tool: Tool, args: BaseModel, call: ToolCall, *, limit_s: float, task_id: str) -> Observation:
    """Run one validated (and, if sensitive, approved) call; a broken or slow tool does not end the task."""
    try:
        async with asyncio.timeout(limit_s):
            data = await tool.invoke(args, task_id=task_id, call_id=call.id)
    except TimeoutError:
        return failure(f"{call.name} timed out after {limit_s:g} s", "timeout")
    except ToolError as exc:
        return failure(f"{call.name} failed: {exc}", "invalid_arguments" if isinstance(exc, ToolInputError)
                       else "timeout" if isinstance(exc, ToolTimeoutError) else "tool_error")
    except Exception as exc:  # a broken tool must not end the task
        return failure(f"{call.name} failed unexpectedly: {type(exc).__name__}: {exc}", type(exc).__qualname__)
    text = json.dumps(data, ensure_ascii=False, default=str)
    if len(text) > MAX_OBSERVATION_CHARS:
        text = text[:MAX_OBSERVATION_CHARS] + f"... [truncated, {len(text)} characters in all]"
    return Observation(True, text)


def unanswered_calls(messages: list[Message]) -> list[ToolCall]:
    """The tool calls of the last assistant turn that have no tool message yet (a resumed task runs them)."""
    i = len(messages) - 1
    answered: set[str] = set()
    while i > 0 and messages[i].get("role") == "tool":
        answered.add(messages[i].get("tool_call_id", ""))
        i -= 1
    last = messages[i] if messages else {}
    if last.get("role") != "assistant" or not last.get("tool_calls"):
        return []
    return [
        ToolCall(c["id"], c["function"]["name"], c["function"].get("arguments") or "")
        for c in last["tool_calls"]
        if c["id"] not in answered
    ]
