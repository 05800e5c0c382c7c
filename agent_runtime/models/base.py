"""The model protocol: one async call from a conversation to a reply.

Messages are plain dicts in the OpenAI Chat Completions shape (role, content,
tool_calls, tool_call_id): the wire format of most providers, so the hot path
never converts them. Tools are given as the `tools` list of that API
(`{"type": "function", "function": {name, description, parameters}}`).

Two tool-calling modes: `native` (the provider's function calling) and `react`
(the Thought / Action / Action Input / Final Answer text format, for models
without function calling). In react mode the provider renders tools and tool
results into text and parses actions back into `ToolCall`s, so the loop does
not know which mode is in use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from agent_runtime.events import Usage

Message = dict[str, Any]
ToolMode = Literal["native", "react"]
TextSink = Callable[[str], None]  # a model's streamed text, piece by piece


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model asked for. `arguments` is the raw JSON text, unvalidated."""

    id: str
    name: str
    arguments: str

    def as_message_part(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(slots=True)
class ModelReply:
    """What one model call produced.

    `text` is the visible text (thought, or the final answer when there are no
    tool calls). `format_error` is set when the reply could not be understood
    (e.g. a ReAct action that does not parse): the loop shows it to the model
    and asks again, it is never taken as the final answer.
    """

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    format_error: str | None = None
    # The assistant message to append to the conversation, as the provider wants it back.
    message: Message | None = None
    finish_reason: str | None = None  # as the provider said it (stop, tool_calls, length...), when it did
    retries: int = 0  # requests made again before this reply (429/5xx, a broken stream): traces show them

    @property
    def is_final(self) -> bool:
        return not self.tool_calls and self.format_error is None

    def assistant_message(self) -> Message:
        if self.message is not None:
            return self.message
        msg: Message = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            msg["tool_calls"] = [c.as_message_part() for c in self.tool_calls]
        return msg


@runtime_checkable
class Model(Protocol):
    """A chat model. Implementations: `openai_model.OpenAIModel`, `offline.OfflineModel`."""

    name: str
    offline: bool

    async def complete(self, messages: list[Message], tools: list[dict[str, Any]]) -> ModelReply:
        """One model call. Raises `ModelError` when the endpoint fails after retries."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class StreamingModel(Model, Protocol):
    """A model that can stream its text: `streams` true, and `complete` takes `on_text`.
    The loop uses it when someone listens for deltas; the reply is the same either way."""

    streams: bool

    async def complete(self, messages: list[Message], tools: list[dict[str, Any]],
                       on_text: TextSink | None = None) -> ModelReply:
        """One model call; with `on_text`, each piece of the reply's text goes to it as it arrives."""
        ...
