"""HTTP/1.1 to one AWS endpoint over kept-alive asyncio connections: the light client's calls made on the
event loop itself.

A step's AWS calls (its DynamoDB write, its Lambda invocation) are short requests; made on a thread
pool, each pays for two thread hand-offs and the GIL changing hands, about as much CPU as the call
itself. Here the request goes out from the event loop and the answer is parsed in the connection's
protocol as it arrives, so the calling task simply awaits it. The wire format, the answers and the
failures are those of the blocking transport (`agent_runtime.aws_http`): botocore's exceptions,
which its retry handler retries as for any boto3 call, and a kept connection the server closed while
idle opened again once before anything of the answer was read.

Connections belong to one event loop: each loop that sends has its own idle connections, and at
most `limit` requests in flight (the client's `max_pool_connections`), the rest waiting their turn.
"""

from __future__ import annotations

import asyncio
import socket
import weakref
from collections.abc import Callable
from typing import Any, cast

from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from agent_runtime.aws_http import MAX_HEAD_BYTES, Endpoint, Headers, answer, parse_head, request_bytes

Reply = tuple[int, Headers, bytes, bool]  # status, headers, body, whether the connection stays open


class _Stale(Exception):
    """A kept connection was closed before the answer began: send again on a new one."""


class _Connection(asyncio.Protocol):
    """One connection; `exchange()` sends a request and resolves when its whole answer has arrived."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self._waiter: asyncio.Future[Reply] | None = None
        self._head: tuple[int, Headers] | None = None
        self._length: int | None = None
        self._chunked = False
        self._keep = True
        self._body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not always of asyncio's class (uvloop's is its own).
        self.transport = cast(asyncio.Transport, transport)

    async def exchange(self, request: bytes, read_timeout: float) -> Reply:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._buf.clear()
        self._head, self._body = None, bytearray()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(read_timeout, self._timed_out)
        try:
            self.transport.write(request)
            return await waiter
        except BaseException:
            self.close()  # failed, timed out or cancelled mid-answer: the connection's state is unknown
            raise
        finally:
            timer.cancel()
            self._waiter = None

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():  # nothing asked for it
            self.close()
            return
        self._buf += data
        try:
            reply = self._parse()
        except ConnectionClosedError as exc:
            self._fail(exc)
            return
        if reply is not None:
            waiter.set_result(reply)

    def eof_received(self) -> bool:
        self._lost()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _timed_out(self) -> None:
        self._fail(ReadTimeoutError(endpoint_url=self.url))

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.close()

    def _lost(self) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._head is not None and self._length is None and not self._chunked:  # the body ran to the end
            waiter.set_result((*self._head, bytes(self._buf), False))
        elif self._head is None and not self._buf:
            waiter.set_exception(_Stale())
        else:
            waiter.set_exception(ConnectionClosedError(endpoint_url=self.url))

    def _parse(self) -> Reply | None:
        if self._head is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD_BYTES:
                    raise ConnectionClosedError(endpoint_url=self.url)
                return None
            self._head = head = parse_head(bytes(self._buf[:end]))
            del self._buf[:end + 4]
            headers = head[1]
            self._keep = headers.get("connection", "").lower() != "close"
            self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
            length = headers.get("content-length")
            self._length = int(length) if length is not None and not self._chunked else None
        if self._chunked:
            return self._chunks()
        if self._length is None or len(self._buf) < self._length:
            return None  # more to come (or, without a length, up to the end of the connection)
        return (*self._head, bytes(self._buf[:self._length]), self._keep)

    def _chunks(self) -> Reply | None:
        assert self._head is not None
        while (eol := self._buf.find(b"\r\n")) >= 0:
            size = int(bytes(self._buf[:eol]).split(b";", 1)[0], 16)
            if len(self._buf) < eol + 2 + size + 2:
                return None
            if size == 0:  # (trailers are not used by AWS's JSON answers)
                return (*self._head, bytes(self._body), self._keep)
            self._body += self._buf[eol + 2:eol + 2 + size]
            del self._buf[:eol + 2 + size + 2]
        return None


class _Pool:
    """One event loop's connections to the endpoint."""

    def __init__(self, limit: int) -> None:
        self.idle: list[_Connection] = []
        self.slots = asyncio.Semaphore(limit)


class AsyncConnections:
    """Sends requests to one endpoint (scheme, host, port) on kept-alive connections of the running loop."""

    def __init__(self, url: str, *, connect_timeout: float, read_timeout: float, verify: bool | str = True,
                 keepalive: bool = False, limit: int = 10) -> None:
        self.endpoint = Endpoint(url, verify)
        self.connect_timeout, self.read_timeout, self.keepalive = connect_timeout, read_timeout, keepalive
        self.limit = max(1, limit)
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes) -> AWSResponse:
        """One request; its answer as botocore's `AWSResponse`."""
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _Pool(self.limit)
        request = request_bytes(method, url, self.endpoint.host_header, headers, body)
        async with pool.slots:
            reply: Reply | None = None
            while pool.idle and reply is None:
                conn = pool.idle.pop()
                if not conn.closed:
                    try:
                        reply = await conn.exchange(request, self.read_timeout)
                    except _Stale:
                        conn.close()
            if reply is None:
                conn = await self._connect(loop, url)
                try:
                    reply = await conn.exchange(request, self.read_timeout)
                except _Stale:
                    conn.close()
                    raise ConnectionClosedError(endpoint_url=url) from None
            status, head, content, keep = reply
            if keep and not conn.closed:
                pool.idle.append(conn)
            else:
                conn.close()
        return answer(url, status, head, content)

    def close_idle(self) -> None:
        """Close the running loop's idle connections (a call after this opens a new one)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        for conn in pool.idle if pool is not None else ():
            conn.close()

    async def _connect(self, loop: asyncio.AbstractEventLoop, url: str) -> _Connection:
        e = self.endpoint
        factory: Callable[[], _Connection] = lambda: _Connection(url)  # noqa: E731
        kwargs: dict[str, Any] = {"ssl": e.tls, "server_hostname": e.host} if e.tls is not None else {}
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(factory, e.host, e.port, **kwargs),
                                             self.connect_timeout)
        except TimeoutError:
            raise ConnectTimeoutError(endpoint_url=url) from None
        except OSError as exc:
            raise EndpointConnectionError(endpoint_url=url, error=exc) from None
        if self.keepalive and conn.transport is not None:
            sock = conn.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return conn
