"""A small OpenAI-compatible Chat Completions server over real HTTP on 127.0.0.1.

Tests and benchmarks point the real `openai` client (or plain httpx) at it, so the
model path is exercised end to end: HTTP/1.1 keep-alive, auth header, JSON and SSE
bodies, tool calls (parallel ones too), usage, error bodies with status codes and
`Retry-After`. Replies are scripted: a queue of `Reply`s consumed one per request,
then an optional `responder(request_body) -> Reply`, then a default reply. Every
request is recorded for assertions. Requests are checked the way the real API
checks them (unknown parameters, tool messages without their call, ...), so a
client bug shows up as the same 400 it would get in production.

It runs on its own asyncio loop in a background thread (cheap enough for a
thousand concurrent connections), or as a process for benchmarks:
`python -m tests.fakes.openai_server --latency 0.2 --tool-steps 5`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

Responder = Callable[[dict[str, Any]], "Reply | None"]


@dataclass(frozen=True)
class FakeToolCall:
    """A tool call the fake model makes. `arguments` may be a dict or raw (even invalid) JSON text."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """One scripted answer to one request.

    A 2xx `status` answers with a completion (`text`, `tool_calls`); any other status
    answers with the API's error body. `delay_s` is waited before answering (and
    `chunk_delay_s` between the pieces of a streamed answer, as a model writing slowly),
    `disconnect` drops the connection without an answer, and `raw_body` is sent
    as-is (for malformed replies) with `content_type` (e.g. `text/event-stream` for a broken stream).
    """

    text: str | None = None
    tool_calls: tuple[FakeToolCall, ...] = ()
    status: int = 200
    error_message: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    retry_after: float | None = None
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens); estimated when None
    finish_reason: str | None = None  # default: "tool_calls" when there are tool calls, else "stop"
    disconnect: bool = False
    raw_body: str | None = None
    content_type: str = "application/json"


ScriptItem = Reply | Callable[[dict[str, Any]], Reply]


def say(text: str, **kwargs: Any) -> Reply:
    """A plain text reply (a final answer, or a ReAct-format text)."""
    return Reply(text=text, **kwargs)


def call(name: str, arguments: dict[str, Any] | str | None = None, *, id: str | None = None) -> FakeToolCall:
    """One tool call for `use_tools`."""
    return FakeToolCall(name, {} if arguments is None else arguments, id)


def use_tools(*calls: FakeToolCall, text: str | None = None, **kwargs: Any) -> Reply:
    """A reply asking for one or several (parallel) tool calls."""
    return Reply(text=text, tool_calls=tuple(calls), **kwargs)


_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "Invalid request.", None),
    401: ("invalid_request_error", "Incorrect API key provided.", "invalid_api_key"),
    403: ("permission_error", "You are not allowed to sample from this model.", None),
    404: ("invalid_request_error", "The model does not exist or you do not have access to it.", "model_not_found"),
    408: ("server_error", "Request timed out.", None),
    429: ("requests", "Rate limit reached for requests. Please try again later.", "rate_limit_exceeded"),
    500: ("server_error", "The server had an error while processing your request. Sorry about that!", None),
    502: ("server_error", "Bad gateway.", None),
    503: ("server_error", "The engine is currently overloaded, please try again later.", None),
}


def fail(
    status: int,
    message: str | None = None,
    *,
    type: str | None = None,
    code: str | None = None,
    retry_after: float | None = None,
    **kwargs: Any,
) -> Reply:
    """An error reply with the API's error body (`{"error": {message, type, param, code}}`)."""
    if status < 400:
        raise ValueError(f"an error reply needs a 4xx/5xx status, got {status}")
    return Reply(status=status, error_message=message, error_type=type, error_code=code, retry_after=retry_after,
                 **kwargs)


@dataclass
class RecordedRequest:
    """A request as the server received it; `body` is the parsed JSON (None if it was not JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


def steps_responder(
    tool: str, arguments: dict[str, Any] | None = None, *, steps: int, parallel: int = 1, final_text: str = "done"
) -> Responder:
    """A stateless script for benchmarks: call `tool` (`parallel` times per turn) until the
    conversation holds `steps` tool turns, then answer `final_text`. Works for any number of
    concurrent conversations because it reads the state from the request."""
    if steps < 0 or parallel < 1:
        raise ValueError("steps must be >= 0 and parallel >= 1")
    args = json.dumps(arguments or {})

    def respond(body: dict[str, Any]) -> Reply:
        turns = sum(1 for m in body.get("messages", ()) if m.get("role") == "assistant")
        if turns >= steps:
            return say(final_text)
        return use_tools(*(FakeToolCall(tool, args) for _ in range(parallel)), text=f"step {turns + 1}")

    return respond


_CHAT_PARAMS = frozenset({
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "stream", "stream_options", "temperature",
    "top_p", "max_tokens", "max_completion_tokens", "stop", "n", "seed", "response_format", "user",
    "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "logit_bias", "metadata", "store",
    "reasoning_effort", "service_tier", "modalities", "prediction", "audio", "web_search_options", "verbosity",
    "prompt_cache_key", "safety_identifier",
})
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def validate_chat_request(body: Any) -> None:
    """Raise `_BadRequest` where the real Chat Completions API answers 400."""
    if not isinstance(body, dict):
        raise _BadRequest("The request body must be a JSON object.")
    unknown = sorted(set(body) - _CHAT_PARAMS)
    if unknown:
        raise _BadRequest(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _BadRequest("you must provide a model parameter", "model", "missing_required_parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _BadRequest("'stream' must be a boolean.", "stream")
    if "stream_options" in body and not body.get("stream"):
        raise _BadRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                          "stream_options")
    stop = body.get("stop")
    if stop is not None and not (isinstance(stop, str) or (isinstance(stop, list) and len(stop) <= 4
                                                         and all(isinstance(s, str) for s in stop))):
        raise _BadRequest("'stop' must be a string or an array of at most 4 strings.", "stop")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not tools:
            raise _BadRequest("[] is too short - 'tools'", "tools")
        for i, tool in enumerate(tools):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
                raise _BadRequest(f"Invalid 'tools[{i}]': expected a function tool.", f"tools[{i}]")
            if not isinstance(fn.get("name"), str) or not _TOOL_NAME.match(fn["name"]):
                raise _BadRequest(f"Invalid 'tools[{i}].function.name': string does not match pattern. "
                                  "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                                  f"tools[{i}].function.name", "invalid_value")
            if "parameters" in fn and not isinstance(fn["parameters"], dict):
                raise _BadRequest(f"Invalid 'tools[{i}].function.parameters': expected an object.",
                                  f"tools[{i}].function.parameters")
    _validate_messages(messages)


def _validate_messages(messages: list[Any]) -> None:
    pending: list[str] = []  # call ids of the last assistant turn still waiting for their tool message
    answerable: set[str] = set()
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict) or msg.get("role") not in _ROLES:
            raise _BadRequest(f"Invalid '{where}': expected an object with a valid 'role'.", where)
        role, content = msg["role"], msg.get("content")
        if pending and role != "tool":
            raise _BadRequest(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
                "messages", "invalid_value",
            )
        if content is not None and not isinstance(content, str | list):
            raise _BadRequest(f"Invalid type for '{where}.content': expected a string or an array.",
                              f"{where}.content", "invalid_type")
        if role == "assistant":
            tool_calls = msg.get("tool_calls")
            if content is None and not tool_calls:
                raise _BadRequest(f"Invalid value for '{where}.content': expected a string, got null.",
                                  f"{where}.content", "invalid_type")
            answerable = set()
            for j, tc in enumerate(tool_calls or ()):
                fn = tc.get("function") if isinstance(tc, dict) else None
                if (not isinstance(tc, dict) or not isinstance(tc.get("id"), str) or tc.get("type") != "function"
                        or not isinstance(fn, dict) or not isinstance(fn.get("name"), str)
                        or not isinstance(fn.get("arguments"), str)):
                    raise _BadRequest(f"Invalid '{where}.tool_calls[{j}]': expected "
                                      "{id, type: 'function', function: {name, arguments: string}}.",
                                      f"{where}.tool_calls[{j}]")
                pending.append(tc["id"])
                answerable.add(tc["id"])
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in answerable:
                raise _BadRequest("Invalid parameter: messages with role 'tool' must be a response to a "
                                  "preceeding message with 'tool_calls'.", f"{where}.role")
            if call_id in pending:
                pending.remove(call_id)
        elif content is None:
            raise _BadRequest(f"Invalid value for '{where}.content': expected a string, got null.",
                              f"{where}.content", "invalid_type")
    if pending:
        raise _BadRequest(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
            "messages", "invalid_value",
        )


class FakeOpenAIServer:
    """The server. Use as a context manager (or `start()`/`stop()`); `base_url` ends in `/v1`.

    `api_key`: when set, requests must carry `Authorization: Bearer <api_key>` (else 401).
    `latency_s`: added to every reply (benchmarks). `default_reply`: used when the script
    and the responder give nothing. `record`: keep every request in `requests`.
    `strict`: reject requests the real API rejects.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        latency_s: float = 0.0,
        responder: Responder | None = None,
        default_reply: Reply | None = None,
        record: bool = True,
        strict: bool = True,
        model_ids: tuple[str, ...] = ("fake-model",),
    ) -> None:
        if latency_s < 0:
            raise ValueError("latency_s must be >= 0")
        self.api_key = api_key
        self.latency_s = latency_s
        self.responder = responder
        self.default_reply = default_reply or say("fake reply: the script is empty")
        self.record = record
        self.strict = strict
        self.model_ids = model_ids
        self.requests: list[RecordedRequest] = []
        self.port = 0
        self._script: collections.deque[ScriptItem] = collections.deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()

    # -- scripting and inspection ------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: ScriptItem) -> FakeOpenAIServer:
        """Queue replies, consumed one per chat request, in order."""
        with self._lock:
            self._script.extend(replies)
        return self

    @property
    def pending(self) -> int:
        """Scripted replies not yet consumed."""
        with self._lock:
            return len(self._script)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat completion requests received so far."""
        with self._lock:
            return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    # -- lifecycle -----------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeOpenAIServer:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve_connection, host, port, backlog=4096)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # e.g. port in use: report it to the caller
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai-server", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP/1.1 ----------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                parts = request_line.decode("latin-1").split()
                if len(parts) != 3:
                    self._send_json(writer, 400, _error_body("Malformed request line.", "invalid_request_error"))
                    return
                method, target, version = parts
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    raw = await _read_chunked(reader)
                else:
                    raw = await reader.readexactly(int(headers.get("content-length") or 0))
                keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                if not await self._dispatch(method, target.split("?", 1)[0], headers, raw, writer):
                    return
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return
        finally:
            self._connections.discard(task)
            writer.close()

    async def _dispatch(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False means the connection must be dropped."""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
            if method == "POST":
                if self.record:
                    self._record(method, path, headers, None)
                self._send_json(writer, 400, _error_body(
                    "We could not parse the JSON body of your request.", "invalid_request_error"))
                return True
        if self.record:
            self._record(method, path, headers, body)
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            self._send_json(writer, 401, _error_body(
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error", code="invalid_api_key"))
            return True
        route = path[3:] if path.startswith("/v1/") else path
        if method == "GET" and route == "/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.model_ids]
            self._send_json(writer, 200, {"object": "list", "data": data})
            return True
        if method != "POST" or route != "/chat/completions":
            self._send_json(writer, 404, _error_body(
                f"Invalid URL ({method} {path})", "invalid_request_error", code="unknown_url"))
            return True
        if self.strict:
            try:
                validate_chat_request(body)
            except _BadRequest as exc:
                self._send_json(writer, 400, _error_body(str(exc), "invalid_request_error", exc.param,
                                                                exc.code))
                return True
        try:
            reply = self._next_reply(body)
        except Exception as exc:  # a broken test responder: say so loudly, as a server error
            detail = "".join(traceback.format_exception_only(exc)).strip()
            self._send_json(writer, 500, _error_body(f"fake server responder failed: {detail}",
                                                           "server_error"))
            return True
        delay = self.latency_s + reply.delay_s
        if delay > 0:
            await asyncio.sleep(delay)
        if reply.disconnect:
            return False
        extra = {"retry-after": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
        if reply.raw_body is not None:
            self._send(writer, reply.status, reply.raw_body.encode(), reply.content_type, extra)
        elif reply.status >= 400:
            kind, message, code = _DEFAULT_ERRORS.get(
                reply.status, ("server_error" if reply.status >= 500 else "invalid_request_error", "Error.", None))
            self._send_json(writer, reply.status, _error_body(
                reply.error_message or message, reply.error_type or kind, code=reply.error_code or code), extra)
        elif body.get("stream"):
            await self._send_stream(writer, body, raw, reply)
        else:
            self._send_json(writer, reply.status, _completion(body, raw, reply), extra)
        return True

    def _record(self, method: str, path: str, headers: dict[str, str], body: Any) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, headers, body))

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            item = self._script.popleft() if self._script else None
        if item is not None:
            return item(body) if callable(item) else item
        if self.responder is not None:
            reply = self.responder(body)
            if reply is not None:
                return reply
        return self.default_reply

    def _send(
        self, writer: asyncio.StreamWriter, status: int, payload: bytes, content_type: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"content-type: {content_type}",
                f"content-length: {len(payload)}", f"x-request-id: req_{uuid.uuid4().hex[:16]}"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)

    def _send_json(
        self, writer: asyncio.StreamWriter, status: int, obj: Any, extra: dict[str, str] | None = None
    ) -> None:
        self._send(writer, status, json.dumps(obj).encode(), "application/json", extra)

    async def _send_stream(self, writer: asyncio.StreamWriter, body: dict[str, Any], raw: bytes, reply: Reply) -> None:
        head = ("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
                f"x-request-id: req_{uuid.uuid4().hex[:16]}\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(head.encode("latin-1"))
        for chunk in _stream_chunks(body, raw, reply):
            data = f"data: {chunk}\n\n".encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
            if reply.chunk_delay_s:
                await asyncio.sleep(reply.chunk_delay_s)
        writer.write(b"0\r\n\r\n")


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            408: "Request Timeout", 409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readline()


def _error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _call_ids(reply: Reply) -> list[str]:
    return [c.id or f"call_{uuid.uuid4().hex[:24]}" for c in reply.tool_calls]


def _usage(raw: bytes, reply: Reply) -> dict[str, int]:
    if reply.usage is not None:
        prompt, completion = reply.usage
    else:  # a stable estimate: about four bytes a token
        prompt = len(raw) // 4 + 1
        produced = len(reply.text or "") + sum(len(c.name) + len(c.arguments_json()) for c in reply.tool_calls)
        completion = produced // 4 + 1
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish_reason(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _completion(body: dict[str, Any], raw: bytes, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json()}}
            for cid, c in zip(_call_ids(reply), reply.tool_calls, strict=True)
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(reply)}],
        "usage": _usage(raw, reply),
    }


def _fragments(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _stream_chunks(body: dict[str, Any], raw: bytes, reply: Reply) -> Iterator[str]:
    """The SSE `data:` payloads of a streamed completion, ending with `[DONE]`."""
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": body.get("model", "fake-model"), "system_fingerprint": "fp_fake"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        out = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            out["usage"] = None
        return json.dumps(out)

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in re.findall(r"\S+\s*|\s+", reply.text or ""):
        yield chunk({"content": piece})
    for index, (cid, c) in enumerate(zip(_call_ids(reply), reply.tool_calls, strict=True)):
        yield chunk({"tool_calls": [{"index": index, "id": cid, "type": "function",
                                     "function": {"name": c.name, "arguments": ""}}]})
        for frag in _fragments(c.arguments_json(), 12):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": frag}}]})
    yield chunk({}, _finish_reason(reply))
    if include_usage:
        yield json.dumps({**base, "choices": [], "usage": _usage(raw, reply)})
    yield "[DONE]"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A running fake server that requires the API key `test-key`."""
    with FakeOpenAIServer(api_key="test-key") as server:
        yield server


@pytest.fixture(scope="module")
def module_fake_openai() -> Iterator[FakeOpenAIServer]:
    """One running fake server (no API key) for the tests of a module."""
    with FakeOpenAIServer() as server:
        yield server


def main(argv: list[str] | None = None) -> None:
    """Run the server as a process (for benchmarks): prints `READY <base_url>` once listening,
    serves until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--tool", default="echo", help="tool the scripted model calls")
    parser.add_argument("--tool-args", default='{"text": "hi"}', help="JSON arguments of each call")
    parser.add_argument("--tool-steps", type=int, default=0, help="tool turns before the final answer")
    parser.add_argument("--parallel", type=int, default=1, help="tool calls per turn")
    parser.add_argument("--text", default="done", help="the final answer")
    parser.add_argument("--record", action="store_true", help="keep received requests (memory grows)")
    args = parser.parse_args(argv)
    try:
        tool_args = json.loads(args.tool_args)
    except ValueError as exc:
        parser.error(f"--tool-args is not valid JSON: {exc}")
    if not isinstance(tool_args, dict):
        parser.error("--tool-args must be a JSON object")
    responder = steps_responder(args.tool, tool_args, steps=args.tool_steps, parallel=args.parallel,
                                final_text=args.text)
    server = FakeOpenAIServer(api_key=args.api_key, latency_s=args.latency, responder=responder, record=args.record)
    server.start(port=args.port)
    print(f"READY {server.base_url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
