"""ASGI middleware that bounds request bodies, so an oversized upload is refused before it is read and a
body trickled in slowly is cut off (408) instead of holding a connection and a task open."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_runtime.api.errors import error_response

DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_BODY_TIMEOUT_S = 10.0


class BodyLimit:
    """Rejects request bodies over `max_bytes` with 413 before the app reads them, and bodies not
    received in full within `timeout_s` with 408."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = DEFAULT_BODY_TIMEOUT_S) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = error_response(413, "payload_too_large", f"request body is larger than {self.max_bytes} bytes")
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await error_response(400, "bad_request", "invalid Content-Length")(scope, receive, send)
                    return
                if declared > self.max_bytes:
                    await too_large(scope, receive, send)
                    return
        # Read (bounded in size and time) now, replay to the app: bodies here are small by design.
        try:
            async with asyncio.timeout(self.timeout_s):
                body, other = await _read_body(receive, self.max_bytes)
        except TimeoutError:
            await error_response(408, "request_timeout", f"the request body did not arrive within "
                                 f"{self.timeout_s:g} s", {"Connection": "close"})(scope, receive, send)
            return
        if other is not None:  # the client went away
            await self.app(scope, _replay([other]), send)
            return
        if body is None:
            await too_large(scope, receive, send)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


async def _read_body(receive: Receive, max_bytes: int) -> tuple[bytes | None, Message | None]:
    """The whole body (None when over `max_bytes`), or the message that ended it early (a disconnect)."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None, message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None, None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), None


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
