"""A tiny scripted HTTP/1.1 server for the light AWS client's transports (tests/test_aws_light.py,
tests/test_aws_async.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest


class Server:
    """A tiny HTTP/1.1 server on 127.0.0.1: answers each request with the next of `answers` (raw bytes),
    closing the connection after it when the answer's entry says so. Counts connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.answers: list[tuple[bytes, bool]] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(rest) < length:
                    rest += conn.recv(65536)
                buf = rest[length:]
                answer, close = self.answers.pop(0)
                conn.sendall(answer)
                if close:
                    return


@pytest.fixture(name="server")
def server_fixture() -> Iterator[Server]:
    s = Server()
    yield s
    s.sock.close()


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
