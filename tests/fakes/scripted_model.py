"""A scripted fake model implementing the `Model` protocol, stateless across restarts.

The reply to a call is chosen by the conversation itself: the script whose key the
current task's input starts with, at the index of the number of assistant turns
since that input. So a task resumed by another worker (even another process) gets
the same next reply as it would have without the crash. A script entry is a
`ModelReply` or a function of the conversation returning one (e.g. to quote a tool
result in the final answer).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent_runtime.events import Usage
from agent_runtime.models.base import Message, ModelReply, ToolCall

Reply = ModelReply | Callable[[list[Message]], ModelReply]
USAGE = Usage(prompt_tokens=10, completion_tokens=5)
COST = 0.001


def call(name: str, arguments: dict[str, Any] | None = None, *, text: str = "") -> Callable[[list[Message]], ModelReply]:
    """One tool call; its id is derived from the turn so a replay produces the same id."""
    return calls((name, arguments or {}), text=text)


def calls(*specs: tuple[str, dict[str, Any]], text: str = "") -> Callable[[list[Message]], ModelReply]:
    """Several tool calls in one turn (the loop runs them in parallel)."""

    def reply(messages: list[Message]) -> ModelReply:
        turn = _turn(messages)
        tool_calls = [ToolCall(f"call_{turn}_{i}", name, json.dumps(args)) for i, (name, args) in enumerate(specs)]
        return ModelReply(text=text or f"step {turn + 1}: calling {', '.join(n for n, _ in specs)}",
                          tool_calls=tool_calls, usage=USAGE, cost_usd=COST)

    return reply


def final(text: str | Callable[[list[Message]], str] = "done") -> Callable[[list[Message]], ModelReply]:
    """The final answer, fixed or computed from the conversation."""

    def reply(messages: list[Message]) -> ModelReply:
        return ModelReply(text=text(messages) if callable(text) else text, usage=USAGE, cost_usd=COST)

    return reply


def tool_results(messages: list[Message]) -> list[str]:
    """The tool results of the current task, oldest first."""
    return [m["content"] for m in messages[_task_start(messages):] if m.get("role") == "tool"]


def _task_start(messages: list[Message]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return 0


def _turn(messages: list[Message]) -> int:
    return sum(1 for m in messages[_task_start(messages):] if m.get("role") == "assistant")


class ScriptedModel:
    """`Model` that replays scripts keyed by the task input's prefix ("" = any task)."""

    offline = True

    def __init__(self, script: Mapping[str, Sequence[Reply]] | Sequence[Reply], *, name: str = "scripted") -> None:
        self.scripts = dict(script) if isinstance(script, Mapping) else {"": list(script)}
        self.name = name
        self.calls = 0

    def _script_for(self, task_input: str) -> Sequence[Reply]:
        for prefix in sorted(self.scripts, key=len, reverse=True):
            if task_input.startswith(prefix):
                return self.scripts[prefix]
        raise AssertionError(f"no script for task input {task_input!r}")

    async def complete(self, messages: list[Message], tools: list[dict[str, Any]]) -> ModelReply:
        self.calls += 1
        start = _task_start(messages)
        script = self._script_for(str(messages[start].get("content") or ""))
        turn = _turn(messages)
        if turn >= len(script):
            return ModelReply(text="script exhausted", usage=USAGE, cost_usd=COST)
        entry = script[turn]
        return entry(messages) if callable(entry) else entry

    async def aclose(self) -> None:
        return None
