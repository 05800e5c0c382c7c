"""Any OpenAI-compatible Chat Completions endpoint (OpenAI, Azure OpenAI, Bedrock, vLLM,
Ollama, LiteLLM) through the official `openai` package.

The request goes the way of the client's documented `post()` with a plain dict
body (through its `request()`, with the request options `post()` would build,
built once per model, on a client that joins its base URL with the path once) and
the JSON reply is parsed here. That keeps the package's transport, auth, retries
(429, 408, 409, 5xx, connection errors and timeouts, with exponential backoff
that honours `Retry-After`) and error types, but skips the typed
`chat.completions.create` path, whose request-parameter transform costs about
10 ms of CPU per step and grows with the conversation; this path costs well under
2 ms. The conversation list is sent as it is: nothing is copied per step.

httpx's connection pool scans all its connections on every request, so one pool
serving a thousand concurrent tasks spends more CPU per call than the call itself.
Calls therefore go to the first of several clients that has fewer than
`CALLS_PER_CLIENT` calls in flight; clients are added as concurrency grows, so a
single task keeps reusing one connection. The clients share one TLS context
(loading the CA bundle costs about a megabyte and milliseconds per context).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import Mapping
from typing import Any

import httpx
import openai
from openai._models import FinalRequestOptions

from agent_runtime.errors import ConfigurationError, ModelError
from agent_runtime.events import Usage
from agent_runtime.models.base import Message, ModelReply, TextSink, ToolCall, ToolMode
from agent_runtime.models.openai_stream import ResumedText, StreamBrokenError, read_body, read_stream
from agent_runtime.models.pricing import PriceTable
from agent_runtime.models.react import STOP_SEQUENCES, ReactFormat, message_text, new_call_id, parse_react
from agent_runtime.redact import redact, register_secret

# Placeholder key for endpoints without auth (vLLM, Ollama): the client insists on one.
NO_KEY = "unused"
_RESERVED = frozenset({"model", "messages", "tools", "stream", "stream_options"})
# Measured with `make bench` (section 4, C=1000): pools of 8 connections gave the most tasks per second;
# 4 and 16 cost more CPU per call (more clients to pick from, longer scans).
CALLS_PER_CLIENT = 8


class OpenAIModel:
    """A chat model behind an OpenAI-compatible endpoint; see the module docstring."""

    offline = False

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        tool_mode: ToolMode = "native",
        max_retries: int = 4,
        timeout_s: float = 120.0,
        prices: PriceTable | None = None,
        params: Mapping[str, Any] | None = None,
        stream: bool = True,
    ) -> None:
        """`params` are extra request fields sent with every call (e.g. `{"temperature": 0}`); `stream`
        lets calls given an `on_text` stream their text (native tool mode only: ReAct text is parsed whole)."""
        problems = []
        if not isinstance(model, str) or not model.strip():
            problems.append("model must be a non-empty model id (e.g. gpt-4o-mini)")
        if tool_mode not in ("native", "react"):
            problems.append(f"tool_mode must be 'native' or 'react', got {tool_mode!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not 0 <= max_retries <= 20:
            problems.append(f"max_retries must be an integer from 0 to 20, got {max_retries!r}")
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
            problems.append(f"timeout_s must be a number > 0, got {timeout_s!r}")
        if base_url is not None and not str(base_url).startswith(("http://", "https://")):
            problems.append(f"base_url must start with http:// or https://, got {base_url!r}")
        reserved = sorted(_RESERVED & set(params or {}))
        if reserved:
            problems.append(f"params may not set {', '.join(reserved)} (the model sets them)")
        if problems:
            raise ConfigurationError("invalid OpenAI model settings: " + "; ".join(problems))
        self.name = model.strip()
        self.tool_mode: ToolMode = tool_mode
        self.base_url = base_url
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.prices = prices or PriceTable()
        self._params = dict(params or {})
        self._react = ReactFormat() if tool_mode == "react" else None
        self.streams = bool(stream) and self._react is None
        self._client_options: dict[str, Any] = {
            "api_key": api_key or (NO_KEY if base_url else None),
            "base_url": base_url,
            "max_retries": max_retries,
            "timeout": self.timeout_s,
        }
        self._tls: ssl.SSLContext | None = None  # shared by every client
        try:
            self._clients = [self._new_client()]
        except openai.OpenAIError as exc:
            raise ConfigurationError(
                f"cannot set up the OpenAI client: {exc} (set OPENAI_API_KEY, or OPENAI_BASE_URL for a local endpoint)"
            ) from exc
        self._in_flight = [0]
        self.endpoint = str(self._clients[0].base_url).rstrip("/")
        # What the client's `post("/chat/completions", ...)` builds on every call, built once and copied per
        # call with its body: a new one costs more than the rest of our side of a step (pydantic fills in its
        # defaults field by field, deep-copying them).
        self._request = FinalRequestOptions.construct(method="post", url="/chat/completions", json_data=None,
                                                      content=None, files=None)
        register_secret(self._clients[0].api_key)  # an endpoint that echoes it must not put it in a task's error

    def _new_client(self) -> openai.AsyncOpenAI:
        # The package's own Limits class (httpx or httpx2, by its version), from its default limits.
        limits = type(openai.DEFAULT_CONNECTION_LIMITS)(max_connections=CALLS_PER_CLIENT,
                                                        max_keepalive_connections=CALLS_PER_CLIENT)
        if self._tls is None:  # the transport builds one even for http:// endpoints
            import certifi  # the CA bundle httpx uses

            self._tls = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or certifi.where())
        http_client = openai.DefaultAsyncHttpxClient(limits=limits, verify=self._tls)
        return _Client(**self._client_options, http_client=http_client)

    def _pick_client(self) -> int:
        """Index of the first client with room for another call, a new one when all are busy."""
        for index, calls in enumerate(self._in_flight):
            if calls < CALLS_PER_CLIENT:
                return index
        self._clients.append(self._new_client())
        self._in_flight.append(0)
        return len(self._clients) - 1

    async def complete(self, messages: list[Message], tools: list[dict[str, Any]],
                       on_text: TextSink | None = None) -> ModelReply:
        """One Chat Completions call; retried by the client, `ModelError` when that does not help.
        With `on_text` (and `streams`), the call streams and each piece of text goes to it as it comes;
        the reply is the same as without."""
        body: dict[str, Any] = dict(self._params) if self._params else {}
        body["model"] = self.name
        if self._react is None:
            body["messages"] = messages  # sent as is: serialised once by the client, never copied
            if tools:
                body["tools"] = tools
        else:
            body["messages"] = self._react.messages(messages, tools)
            body["stop"] = STOP_SEQUENCES
        if on_text is not None and self.streams:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
            return await self._streamed(body, on_text)
        index = self._pick_client()
        self._in_flight[index] += 1
        try:
            response = await self._post(index, body, stream=False)
        finally:
            self._in_flight[index] -= 1
        return self._reply(response)

    async def _streamed(self, body: dict[str, Any], on_text: TextSink) -> ModelReply:
        """A streamed call. One whose stream breaks off after it began (the client retries only until the
        status arrives) is made again, up to `max_retries` times; `on_text` then gets only the text past
        what the broken attempts already gave it."""
        sink = ResumedText(on_text)
        for attempt in range(self.max_retries + 1):
            index = self._pick_client()
            self._in_flight[index] += 1
            try:
                response = await self._post(index, body, stream=True)
                if _is_sse(response):
                    streamed = await read_stream(response, sink, self.endpoint)
                    usage = _usage(streamed.usage)
                    reply = _native_reply(streamed.message, usage, self.prices.cost(self.name, usage),
                                          streamed.finish_reason)
                    reply.retries = _retries(response)
                else:
                    await read_body(response, self.endpoint)  # an endpoint that answered with one JSON body
                    reply = self._reply(response)
                reply.retries += attempt  # and the calls whose stream broke off
                return reply
            except StreamBrokenError:
                if attempt >= self.max_retries:
                    raise
            finally:
                self._in_flight[index] -= 1
            sink.restart()
            await asyncio.sleep(min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")  # the last attempt returns or raises

    async def _post(self, index: int, body: dict[str, Any], *, stream: bool) -> httpx.Response:
        """POST the body to the client at `index`: its errors (after its retries) as `ModelError`s."""
        try:
            options = self._request.model_copy(update={"json_data": body})  # what `post()` would send
            return await self._clients[index].request(httpx.Response, options, stream=stream)
        except openai.APIStatusError as exc:
            raise _status_error(exc) from None
        except openai.APITimeoutError as exc:
            raise ModelError(
                f"the model endpoint {self.endpoint} did not answer within {self.timeout_s:g} s (after retries)",
                retryable=True,
            ) from exc
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise ModelError(
                redact(f"cannot reach the model endpoint {self.endpoint}: {type(cause).__name__}: {cause}".rstrip(": ")),
                retryable=True,
            ) from exc
        except openai.OpenAIError as exc:
            raise ModelError(redact(f"model call failed: {exc}")) from exc

    def _reply(self, response: httpx.Response) -> ModelReply:
        """The reply of a JSON (not streamed) chat completion."""
        try:
            data = json.loads(response.content)
            message = data["choices"][0]["message"]
            if not isinstance(message, dict):
                raise TypeError("message is not an object")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError(
                redact(f"the model endpoint's reply is not a chat completion ({type(exc).__name__}: {exc}): "
                       f"{response.text[:200]!r}"),
                status_code=response.status_code,
            ) from None
        usage = _usage(data.get("usage"))
        cost = self.prices.cost(self.name, usage)
        finish = data["choices"][0].get("finish_reason")
        if self._react is None or message.get("tool_calls"):
            reply = _native_reply(message, usage, cost, finish)
        else:
            reply = _react_reply(message_text(message.get("content")), usage, cost)
            reply.finish_reason = finish if isinstance(finish, str) else None
        reply.retries = _retries(response)
        return reply

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()

    def __repr__(self) -> str:
        return f"OpenAIModel({self.name!r}, endpoint={self.endpoint!r}, tool_mode={self.tool_mode!r})"


class _Client(openai.AsyncOpenAI):
    """The package's client, joining its base URL with a path once, not on every call (each join parses
    URLs): all the model's calls go to one URL."""

    _joined: tuple[str, Any, Any] | None = None  # (path, base URL, the URL the client joined from them)

    def _prepare_url(self, url: str) -> Any:
        joined, base = self._joined, self.base_url
        if joined is None or joined[0] != url or joined[1] is not base:
            joined = self._joined = (url, base, super()._prepare_url(url))
        return joined[2]


def _is_sse(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


def _retries(response: httpx.Response) -> int:
    """How many times the client sent the request again before this response (it numbers its attempts
    in the `x-stainless-retry-count` header of each)."""
    try:
        return int(response.request.headers.get("x-stainless-retry-count") or 0)
    except (RuntimeError, ValueError):  # a response built without its request
        return 0


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    try:
        return Usage(prompt_tokens=int(raw.get("prompt_tokens") or 0),
                     completion_tokens=int(raw.get("completion_tokens") or 0))
    except (TypeError, ValueError):
        return Usage()


def _native_reply(message: dict[str, Any], usage: Usage, cost: float, finish: Any) -> ModelReply:
    text = message_text(message.get("content"))
    calls: list[ToolCall] = []
    parts: list[dict[str, Any]] = []
    for raw in message.get("tool_calls") or ():
        fn = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(fn, dict):
            continue
        raw_name = fn.get("name")
        name = raw_name if isinstance(raw_name, str) else ""
        args = fn.get("arguments")
        if not isinstance(args, str):  # some servers send an object instead of JSON text
            args = "{}" if args is None else json.dumps(args)
        raw_id = raw.get("id")
        call_id = raw_id if isinstance(raw_id, str) and raw_id else new_call_id()
        calls.append(ToolCall(call_id, name, args))
        parts.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": args}})
    finish_reason = finish if isinstance(finish, str) else None
    if not calls and not text.strip():
        return ModelReply(
            usage=usage, cost_usd=cost, message={"role": "assistant", "content": ""}, finish_reason=finish_reason,
            format_error=f"the reply was empty (finish_reason={finish}); answer, or call a tool",
        )
    # Only what the API takes back: extra reply fields (refusal, annotations, reasoning_content...) are dropped.
    msg: Message = {"role": "assistant", "content": text or None}
    if parts:
        msg["tool_calls"] = parts
    return ModelReply(text=text, tool_calls=calls, usage=usage, cost_usd=cost, message=msg,
                      finish_reason=finish_reason)


def _react_reply(text: str, usage: Usage, cost: float) -> ModelReply:
    parsed = parse_react(text)
    if parsed.format_error is not None:
        return ModelReply(text=parsed.thought, usage=usage, cost_usd=cost, format_error=parsed.format_error,
                          message={"role": "assistant", "content": parsed.text or text})
    if parsed.tool_calls:
        return ModelReply(
            text=parsed.thought, tool_calls=parsed.tool_calls, usage=usage, cost_usd=cost,
            message={"role": "assistant", "content": parsed.text,
                     "tool_calls": [c.as_message_part() for c in parsed.tool_calls]},
        )
    return ModelReply(text=parsed.final_answer or "", usage=usage, cost_usd=cost,
                      message={"role": "assistant", "content": parsed.text})


def _status_error(exc: openai.APIStatusError) -> ModelError:
    status = exc.status_code
    body = exc.body
    err = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else body
    detail = ""
    kind = ""
    if isinstance(err, dict):
        detail = str(err.get("message") or "")
        kind = str(err.get("code") or err.get("type") or "")
    if not detail:
        try:
            detail = exc.response.text[:300]
        except Exception:  # the body may be unreadable (streamed, closed)
            detail = ""
    label = f" ({kind})" if kind else ""
    return ModelError(  # the provider's message may echo the request (its Authorization header): redacted
        redact(f"the model endpoint answered HTTP {status}{label}: {detail or 'no details'}"),
        status_code=status,
        retryable=status in (408, 409, 429) or status >= 500,
    )
