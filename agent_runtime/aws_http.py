"""HTTP/1.1 to one AWS endpoint over kept-alive connections, one per thread: the light client's transport.

botocore's HTTP session (urllib3 under a pool manager, http.client under it, headers parsed by the
email package) spends about half a millisecond of CPU on a small request. AWS endpoints answer a
JSON call with a short head and a Content-Length body, so one `sendall` and a read into a buffer
do the same. Failures become botocore's own exceptions (`EndpointConnectionError`,
`ConnectTimeoutError`, `ReadTimeoutError`, `ConnectionClosedError`), which its retry handler
retries as for any boto3 call. A kept connection the server closed while idle is opened again
once, before anything of the answer was read (as urllib3 does).

Only for endpoints reached directly: `LightClient` keeps botocore's session for an endpoint
behind a proxy. The answers' shapes as boto3's low-level clients return them (`json_reply`,
`invoke_reply`, `error_reply`) are here too; the event loop's transport (`agent_runtime.aws_async`)
shares them and the wire format.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from typing import Any
from urllib.parse import SplitResult, urlsplit

from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.httpsession import get_cert_path

MAX_HEAD_BYTES = 64 * 1024


class Headers(dict[str, str]):
    """HTTP headers by lower-cased name, looked up in any case (botocore's `HeadersDict` does the same with
    a key object per header: a tenth of a request's CPU here)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__((k.lower(), v) for k, v in (items.items() if isinstance(items, dict) else items))

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __setitem__(self, name: str, value: str) -> None:
        super().__setitem__(name.lower(), value)

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name.lower() if isinstance(name, str) else name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


def answer(url: str, status: int, headers: Headers, body: bytes) -> AWSResponse:
    """botocore's `AWSResponse`, its headers kept as they are (its constructor copies them into a `HeadersDict`)."""
    response = AWSResponse(url, status, {}, _Raw(body))
    response.headers = headers  # type: ignore[assignment]  # the same lookups, in any case
    response._content = body  # noqa: SLF001  # read already
    return response


class _Raw:
    """What `AWSResponse` reads its body from."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


class _Stale(Exception):
    """A kept connection was closed before the answer began: send again on a new one."""


class Endpoint:
    """Where requests go: scheme, host, port, the Host header SigV4 signs, and TLS as botocore verifies it."""

    def __init__(self, url: str, verify: bool | str = True) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an HTTP endpoint: {url!r}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.host_header = host_header(parts)
        self.tls = _tls_context(verify) if parts.scheme == "https" else None


def request_bytes(method: str, url: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """A request as it goes on the wire: request line, Host, Content-Length, the other headers, body."""
    split = urlsplit(url)
    target = (split.path or "/") + (f"?{split.query}" if split.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class KeptConnections:
    """Sends requests to one endpoint (scheme, host, port) on a kept-alive connection per thread."""

    def __init__(self, url: str, *, connect_timeout: float, read_timeout: float, verify: bool | str = True,
                 keepalive: bool = False) -> None:
        endpoint = Endpoint(url, verify)
        self.url, self.host, self.port = url, endpoint.host, endpoint.port
        self.host_header, self._tls = endpoint.host_header, endpoint.tls
        self.connect_timeout, self.read_timeout, self.keepalive = connect_timeout, read_timeout, keepalive
        self._local = threading.local()

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes) -> AWSResponse:
        """One request; its answer as botocore's `AWSResponse`."""
        request = request_bytes(method, url, self.host_header, headers, body)
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is not None:
            try:
                return self._exchange(sock, request, url)
            except _Stale:
                self._drop()
        try:
            return self._exchange(self._connect(), request, url)
        except _Stale:
            self._drop()
            raise ConnectionClosedError(endpoint_url=url) from None

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except TimeoutError:
            raise ConnectTimeoutError(endpoint_url=self.url) from None
        except OSError as exc:
            raise EndpointConnectionError(endpoint_url=self.url, error=exc) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if self._tls is not None:
            try:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            except OSError as exc:
                sock.close()
                raise EndpointConnectionError(endpoint_url=self.url, error=exc) from None
        sock.settimeout(self.read_timeout)
        self._local.sock = sock
        return sock

    def _drop(self) -> None:
        sock = getattr(self._local, "sock", None)
        self._local.sock = None
        if sock is not None:
            sock.close()

    def _exchange(self, sock: socket.socket, request: bytes, url: str) -> AWSResponse:
        buf = bytearray()
        try:
            sock.sendall(request)
            while (end := buf.find(b"\r\n\r\n")) < 0:
                chunk = sock.recv(65536)
                if not chunk:
                    if buf:
                        raise ConnectionClosedError(endpoint_url=url)
                    raise _Stale
                buf += chunk
                if len(buf) > MAX_HEAD_BYTES:
                    raise ConnectionClosedError(endpoint_url=url)
            status, headers = parse_head(bytes(buf[:end]))
            body, keep = self._body(sock, buf[end + 4:], headers, url)
        except TimeoutError:
            self._drop()
            raise ReadTimeoutError(endpoint_url=url) from None
        except (ConnectionResetError, BrokenPipeError):
            if not buf:
                raise _Stale from None
            self._drop()
            raise ConnectionClosedError(endpoint_url=url) from None
        except (ConnectionClosedError, _Stale):
            raise
        except OSError as exc:
            self._drop()
            raise EndpointConnectionError(endpoint_url=url, error=exc) from None
        if not keep:
            self._drop()
        return answer(url, status, headers, body)

    def _body(self, sock: socket.socket, rest: bytearray, headers: Headers, url: str) -> tuple[bytes, bool]:
        """The body after the head (`rest` holds what was read past it), and whether the connection stays."""
        keep = headers.get("connection", "").lower() != "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return _dechunk(sock, rest, url), keep
        length = headers.get("content-length")
        if length is None:  # to the end of the connection
            while chunk := sock.recv(65536):
                rest += chunk
            return bytes(rest), False
        size = int(length)
        while len(rest) < size:
            chunk = sock.recv(max(65536, size - len(rest)))
            if not chunk:
                raise ConnectionClosedError(endpoint_url=url)
            rest += chunk
        return bytes(rest[:size]), keep


def host_header(url: SplitResult) -> str:
    """The Host header of a URL (what SigV4 signs): its netloc, without a default port."""
    host = url.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return host if url.port in (None, {"http": 80, "https": 443}.get(url.scheme)) else f"{host}:{url.port}"


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    """TLS as botocore's session verifies it: its CA bundle, or no verification when told so."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=get_cert_path(verify))


def parse_head(raw: bytes) -> tuple[int, Headers]:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ConnectionClosedError(endpoint_url="", error="not an HTTP answer")
    pairs = (line.partition(":") for line in lines[1:])
    return int(parts[1]), Headers((name.strip(), value.strip()) for name, _, value in pairs)


def _dechunk(sock: socket.socket, buf: bytearray, url: str) -> bytes:
    body = bytearray()
    while True:
        while (eol := buf.find(b"\r\n")) < 0:
            buf += _more(sock, url)
        size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
        del buf[:eol + 2]
        while len(buf) < size + 2:
            buf += _more(sock, url)
        if size == 0:
            return bytes(body)  # (trailers are not used by AWS's JSON answers)
        body += buf[:size]
        del buf[:size + 2]


def _more(sock: socket.socket, url: str) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionClosedError(endpoint_url=url)
    return chunk


# -- answers as boto3's low-level clients return them ------------------------------------------


def _metadata(http: AWSResponse) -> dict[str, Any]:
    headers = dict(http.headers) if isinstance(http.headers, Headers) else {k.lower(): v for k, v in http.headers.items()}
    return {"RequestId": headers.get("x-amzn-requestid", ""),
            "HTTPStatusCode": http.status_code, "HTTPHeaders": headers,
            "RetryAttempts": 0}


def json_reply(http: AWSResponse) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(http.content) if http.content else {}
    parsed["ResponseMetadata"] = _metadata(http)
    return parsed


def invoke_reply(http: AWSResponse) -> dict[str, Any]:
    from io import BytesIO

    from botocore.response import StreamingBody

    parsed: dict[str, Any] = {"StatusCode": http.status_code, "ResponseMetadata": _metadata(http),
                              "Payload": StreamingBody(BytesIO(http.content), len(http.content))}
    for header, key in (("X-Amz-Function-Error", "FunctionError"), ("X-Amz-Executed-Version", "ExecutedVersion")):
        value = http.headers.get(header)
        if value is not None:
            parsed[key] = value
    return parsed


def error_reply(http: AWSResponse) -> dict[str, Any]:
    """A failed call's `response`, as botocore's JSON parsers build it."""
    try:
        body = json.loads(http.content) if http.content else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.pop("__type", "") or http.headers.get("x-amzn-ErrorType", "") or http.status_code)
    code = code.rsplit("#", 1)[-1].split(":", 1)[0]
    message = str(body.pop("message", "") or body.pop("Message", ""))
    error = {"Code": code, "Message": message}
    query_error = http.headers.get("x-amzn-query-error")  # a query-compatible service's code (SQS)
    if query_error and ";" in query_error:  # as botocore: that code, the shape's name kept beside it
        error["Code"], error["Type"] = query_error.split(";", 1)
        error["QueryErrorCode"] = code
    return {**body, "Error": error, "ResponseMetadata": _metadata(http)}
