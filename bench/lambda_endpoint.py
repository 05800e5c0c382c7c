"""A local Lambda Invoke endpoint: the route boto3 calls for `lambda.invoke`, answering after a fixed latency.

    python -m bench.lambda_endpoint [--latency SECONDS]

serves `POST /2015-03-31/functions/{name}/invocations` on a free port of 127.0.0.1 and prints
`READY <url>` once the socket is bound; point a boto3 Lambda client at it with `endpoint_url`
(or `AWS_ENDPOINT_URL_LAMBDA`). Each invocation waits the latency, then answers with the tool
result shape `{ok, data, error}`, `data` echoing the function and the event's ids. It is plain
asyncio (HTTP/1.1 with keep-alive), so a thousand connections in flight cost a thousand
coroutines, not threads. `Endpoint` runs the same server inside a caller's event loop (tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
from typing import Any

_ROUTE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/?]+)/invocations(?:\?.*)?$")
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}
_ERROR_TYPES = {400: "InvalidRequestContentException", 404: "ResourceNotFoundException"}


class Endpoint:
    """The endpoint's state: its latency, and how many invocations are (and at most were) in flight."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.in_flight = 0
        self.peak_in_flight = 0
        self.invocations = 0
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    @property
    def url(self) -> str:
        """The base URL, once `start` has bound the socket."""
        assert self._server is not None, "the endpoint is not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> str:
        """Bind a free port of 127.0.0.1 and serve in the running loop; return the base URL."""
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=4096)
        return self.url

    async def aclose(self) -> None:
        """Stop accepting, close the open connections (their handlers end) and the listening socket."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.close()
            await asyncio.gather(*self._connections.values(), return_exceptions=True)
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one keep-alive connection until either side closes it."""
        task = asyncio.current_task()
        assert task is not None
        self._connections[writer] = task
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                headers = dict(line.split(":", 1) for line in header_lines if ":" in line)
                length = int({k.strip().lower(): v.strip() for k, v in headers.items()}.get("content-length", 0))
                body = await reader.readexactly(length) if length else b""
                method, path = request_line.split(" ")[:2]
                status, reply = await self._answer(method, path, body)
                payload = json.dumps(reply).encode()
                error = f"x-amzn-ErrorType: {_ERROR_TYPES[status]}\r\n" if status in _ERROR_TYPES else ""
                writer.write(f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(payload)}\r\nX-Amz-Executed-Version: $LATEST\r\n{error}\r\n"
                             .encode() + payload)
                await writer.drain()
        del self._connections[writer]
        writer.close()

    async def _answer(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """The status and JSON reply to one request: the tool result after the latency, or an AWS-style error."""
        route = _ROUTE.match(path)
        if method != "POST" or route is None:
            return 404, {"Type": "User", "message": f"no route {method} {path}"}
        try:
            event = json.loads(body)
        except ValueError:
            return 400, {"Type": "User", "message": "the payload is not JSON"}
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency_s)
        finally:
            self.in_flight -= 1
        self.invocations += 1
        data = {"function": route["name"], "task_id": event.get("task_id"), "call_id": event.get("call_id")}
        return 200, {"ok": True, "data": data, "error": None}


async def _serve(latency_s: float) -> None:
    endpoint = Endpoint(latency_s)
    print(f"READY {await endpoint.start()}", flush=True)
    await asyncio.Event().wait()  # until the parent terminates the process


def main(argv: list[str] | None = None) -> None:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds before each invocation answers")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    asyncio.run(_serve(args.latency))


if __name__ == "__main__":
    main()
