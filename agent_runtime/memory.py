"""Conversation memory per session, and the token window sent to the model.

`Memory` keeps finished tasks' conversations per session id so a follow-up task
sees earlier turns; `InMemoryMemory` is the process-local one, the durable ones live
with the stores (`agent_runtime.store.sqlite.SQLiteSessionMemory` for `run --session`,
and both task stores). `ContextWindow` trims what is sent to the model to a token
budget, keeping tool calls together with their results; it does work proportional
to what is new in each step, not to the whole conversation.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from agent_runtime.models.base import Message


@runtime_checkable
class Memory(Protocol):
    """Where a session's earlier turns are kept between its tasks."""

    async def load(self, session_id: str) -> list[Message]:
        """The session's earlier messages (without system prompts), oldest first."""
        ...

    async def append(self, session_id: str, messages: list[Message]) -> None:
        """Add a finished task's messages to the session."""
        ...


class InMemoryMemory:
    """Process-local memory, for the CLI and tests."""

    def __init__(self) -> None:
        self._sessions: dict[str, list[Message]] = {}

    async def load(self, session_id: str) -> list[Message]:
        return list(self._sessions.get(session_id, ()))

    async def append(self, session_id: str, messages: list[Message]) -> None:
        self._sessions.setdefault(session_id, []).extend(messages)


def estimate_tokens(message: Message) -> int:
    """A cheap token estimate (about four characters a token, plus per-message overhead)."""
    n = len(message.get("content") or "")
    for call in message.get("tool_calls") or ():
        fn = call.get("function", {})
        n += len(fn.get("name", "")) + len(fn.get("arguments", ""))
    return n // 4 + 4


class ContextWindow:
    """The messages sent to the model: the system prompt, the pinned task input, and
    as many of the most recent other messages as fit in `budget` tokens.

    The window's start only moves forward, so each step costs time proportional to
    the messages added since the last one. Messages are dropped in whole groups (an
    assistant turn with its tool results) so the model never sees a tool result
    without its call.
    """

    def __init__(self, messages: list[Message], *, budget: int, pinned: int) -> None:
        # messages[0] is the system prompt; messages[pinned] is the current task's user message.
        self._messages = messages
        self._budget = budget
        self._pinned = pinned
        self._start = 1
        self._counted = 1
        self._tokens: list[int] = [estimate_tokens(messages[0])]
        self._total = self._tokens[0]

    def view(self) -> list[Message]:
        msgs = self._messages
        while self._counted < len(msgs):
            t = estimate_tokens(msgs[self._counted])
            self._tokens.append(t)
            self._total += t
            self._counted += 1
        while self._total > self._budget and self._start < len(msgs) - 1:
            nxt = self._next_group_end(self._start)
            if nxt >= len(msgs):  # never drop the newest group
                break
            for i in range(self._start, nxt):
                if i != self._pinned:
                    self._total -= self._tokens[i]
            self._start = nxt
        if self._start == 1:
            return msgs
        head = [msgs[0]]
        if self._start > self._pinned:
            head.append(msgs[self._pinned])
        return head + msgs[self._start :]

    def _next_group_end(self, i: int) -> int:
        msgs = self._messages
        j = i + 1
        while j < len(msgs) and msgs[j].get("role") == "tool":
            j += 1
        return j
