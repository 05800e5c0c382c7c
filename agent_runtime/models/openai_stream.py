"""Read a streamed Chat Completion (`stream: true`, `stream_options: {include_usage: true}`).

The endpoint answers with Server-Sent Events, one `chat.completion.chunk` per `data:` line and
`data: [DONE]` at the end. The text of each chunk goes to the caller's `on_text` as it arrives;
tool-call fragments (an `index`, then the id and name once, then pieces of the arguments) are
assembled; the usage comes in the last chunk (its `choices` empty). The result is the same
assistant message a non-streamed call returns, so the reply built from it (and the stored
`model.turn`) does not depend on whether the call streamed.

The SSE framing is parsed here from the raw bytes: a line split and one `json.loads` per chunk,
no pydantic model per chunk (the `openai` package's typed stream costs several times more CPU).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

from agent_runtime.errors import ModelError
from agent_runtime.models.base import TextSink
from agent_runtime.redact import redact

# The HTTP library the `openai` package sends with (httpx, or its fork httpx2, by the package's version):
# a body cut short raises that library's errors.
_HTTP_ERRORS: tuple[type[Exception], ...] = tuple({
    httpx.HTTPError, importlib.import_module(type(openai.DEFAULT_CONNECTION_LIMITS).__module__.split(".")[0]).HTTPError})


class StreamBrokenError(ModelError):
    """The reply broke off after it began (a dropped connection, a stall, no end): worth calling again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class ResumedText:
    """Passes text pieces on; on an attempt after `restart()`, only the text past what was already passed
    (the model's new reply may differ: the stored `model.turn` has the text of the attempt that ended)."""

    def __init__(self, on_text: TextSink) -> None:
        self.on_text = on_text
        self.sent = 0  # characters passed on, over all attempts
        self.seen = 0  # characters of this attempt

    def restart(self) -> None:
        self.seen = 0

    def __call__(self, text: str) -> None:
        start, self.seen = self.seen, self.seen + len(text)
        if self.seen > self.sent:
            piece = text[max(0, self.sent - start):]
            self.sent = self.seen
            self.on_text(piece)


@dataclass(slots=True)
class _Call:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StreamedCompletion:
    """What a streamed completion added up to: the assistant message, its usage and finish reason."""

    message: dict[str, Any]
    usage: Any = None
    finish_reason: Any = None


class _Assembly:
    """Chunks folded into one message as they come."""

    def __init__(self, on_text: TextSink) -> None:
        self.on_text = on_text
        self.text: list[str] = []
        self.calls: dict[int, _Call] = {}
        self.usage: Any = None
        self.finish: Any = None
        self.done = False

    def add(self, payload: bytes) -> None:
        if payload == b"[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise ModelError(redact(f"the model endpoint streamed a chunk that is not JSON: {payload[:200]!r}")) from None
        if not isinstance(chunk, dict):
            raise ModelError(redact(f"the model endpoint streamed a chunk that is not an object: {payload[:200]!r}"))
        if chunk.get("error"):  # an error after the stream began (the status was already 200)
            error = chunk["error"]
            detail = error.get("message") if isinstance(error, dict) else error
            raise ModelError(redact(f"the model endpoint failed while streaming: {detail}"), retryable=True)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta)

    def _delta(self, delta: dict[str, Any]) -> None:
        content = delta.get("content")
        if isinstance(content, str) and content:
            self.text.append(content)
            self.on_text(content)
        for part in delta.get("tool_calls") or ():
            if not isinstance(part, dict):
                continue
            index = part.get("index", 0)
            call = self.calls.get(index)
            if call is None:
                call = self.calls[index] = _Call()
            if isinstance(part.get("id"), str) and part["id"]:
                call.id = part["id"]
            fn = part.get("function")
            if isinstance(fn, dict):
                if isinstance(fn.get("name"), str) and fn["name"] and not call.name:
                    call.name = fn["name"]
                if isinstance(fn.get("arguments"), str):
                    call.arguments.append(fn["arguments"])

    def result(self) -> StreamedCompletion:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None}
        if self.calls:
            message["tool_calls"] = [
                {"id": call.id or None, "type": "function",
                 "function": {"name": call.name, "arguments": "".join(call.arguments)}}
                for _, call in sorted(self.calls.items())
            ]
        return StreamedCompletion(message, self.usage, self.finish)


async def read_stream(response: httpx.Response, on_text: TextSink, endpoint: str) -> StreamedCompletion:
    """Read an SSE completion to its end, sending each text piece to `on_text`; the response is closed.
    A stream that breaks off (a dropped connection, no `[DONE]` nor finish reason) is a retryable
    `StreamBrokenError`: the text sent so far was live-only, the task's stored events hold none of it."""
    assembly = _Assembly(on_text)
    data: list[bytes] = []
    rest = b""
    try:
        async for raw in response.aiter_bytes():
            *lines, rest = (rest + raw).split(b"\n")
            for line in lines:
                if line.endswith(b"\r"):
                    line = line[:-1]
                if not line:  # the blank line that ends an event
                    if data:
                        assembly.add(b"\n".join(data))
                        data = []
                elif line.startswith(b"data:"):
                    data.append(line[6:] if line.startswith(b"data: ") else line[5:])
                # `event:`, `id:`, `retry:` and `:` comment lines carry nothing a completion needs
    except _HTTP_ERRORS as exc:
        raise StreamBrokenError(
            redact(f"the model endpoint {endpoint} broke off its stream: {type(exc).__name__}: {exc}")) from exc
    finally:
        await response.aclose()
    if data:  # a last event without its blank line
        assembly.add(b"\n".join(data))
    if not assembly.done and assembly.finish is None:
        raise StreamBrokenError(f"the model endpoint {endpoint} ended its stream before the completion did")
    return assembly.result()


async def read_body(response: httpx.Response, endpoint: str) -> None:
    """Read a (not streamed) body a stream request got; one cut short is a `StreamBrokenError`."""
    try:
        await response.aread()
    except _HTTP_ERRORS as exc:
        raise StreamBrokenError(
            redact(f"the model endpoint {endpoint} broke off its reply: {type(exc).__name__}: {exc}")) from exc
