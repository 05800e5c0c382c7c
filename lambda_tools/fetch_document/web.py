"""Fetch one public web page without letting the URL reach private networks (SSRF-safe).

Every hop (the URL and each redirect) is checked: http(s) only, no credentials in the URL,
the host resolved once and every address must be public; the connection then goes to the
checked address (no second DNS lookup, so no DNS-rebinding window). Size and time are capped.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from lambda_tools.common import Refused, ToolFailure

Resolver = Callable[[str, int], list[str]]

MAX_REDIRECTS = 3
MAX_BYTES = 2 * 1024 * 1024
TIMEOUT_S = 10.0
USER_AGENT = "agent-platform-fetch/0.1 (+https://github.com/)"
_TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown", "text/csv", "application/json")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (A and AAAA)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: str) -> bool:
    """False for private, loopback, link-local (incl. 169.254.169.254), CGNAT, multicast, reserved and
    unspecified addresses, in IPv4 and IPv6 (mapped, 6to4, Teredo and NAT64 forms unwrapped)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (ip.sixtofour if ip.sixtofour else None)
        if ip.teredo:
            embedded = ip.teredo[1]
        if ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(str(embedded)):
            return False
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
        or ip.is_unspecified or not ip.is_global
    )


@dataclass(frozen=True)
class Page:
    """A fetched page: the final URL (after redirects), its status, content type and decoded body."""

    url: str
    status: int
    content_type: str
    body: str
    truncated: bool


def _check_url(url: str, resolver: Resolver, allow_hosts: Collection[str]) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, path+query, address to connect to), or `Refused`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"invalid URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused(f"only http and https URLs can be fetched, not {scheme or 'a relative URL'!r}")
    if parts.username is not None or parts.password is not None:
        raise Refused("URLs with credentials (user:password@) are not fetched")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise Refused(f"the URL {url!r} has no host")
    port = port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise ToolFailure(f"cannot resolve host {host!r}: {exc}") from None
    if not addresses:
        raise ToolFailure(f"host {host!r} has no addresses")
    if host not in allow_hosts:
        blocked = [a for a in addresses if not is_public_address(a)]
        if blocked:
            raise Refused(
                f"refused to fetch {host!r}: it resolves to a private, loopback, link-local or reserved "
                f"address ({blocked[0]}); only public web pages can be fetched"
            )
    return scheme, host, port, path, addresses[0]


class _Deadline:
    """The fetch's total time budget, across connect, TLS, headers and body and every redirect hop.

    Socket timeouts bound each read, not the total: a server that sends one byte every second never trips
    them. So each blocking step gets the remaining budget as its timeout, and a watchdog timer shuts the
    open socket when the budget runs out, which wakes any read blocked on it.
    """

    def __init__(self, seconds: float, url: str) -> None:
        self.seconds = seconds
        self.url = url
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._sock: socket.socket | None = None

    def error(self) -> ToolFailure:
        """The one timeout error, whichever step ran out of time."""
        return ToolFailure(f"fetching {self.url!r} timed out: no complete answer within {self.seconds:g} s")

    def remaining(self) -> float:
        """Seconds left, or the timeout error once none are."""
        left = self.ends - time.monotonic()
        if left <= 0 or self.expired:
            self.expired = True
            raise self.error()
        return left

    def track(self, sock: socket.socket) -> None:
        """The socket now in use: the one the watchdog shuts, and the one `limit` sets."""
        self._sock = sock
        sock.settimeout(self.remaining())

    def limit(self) -> None:
        """Give the open socket the remaining budget as its per-operation timeout."""
        left = self.remaining()
        if self._sock is not None:
            self._sock.settimeout(left)

    @contextmanager
    def watch(self) -> Iterator[None]:
        """Shut the open socket if the budget runs out while the block runs; the timer never outlives it."""
        timer = threading.Timer(max(self.ends - time.monotonic(), 0.0), self._expire)
        timer.name = "fetch-deadline"
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            timer.join()

    def _expire(self) -> None:
        self.expired = True
        sock = self._sock
        if sock is not None:
            try:
                # The plain socket method: it ends the TCP stream under a TLS socket too, without touching
                # the TLS state the blocked thread is using. A socket already closed has no fd and refuses.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing is blocked on it


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the vetted address, whatever the host name resolves to now (no DNS rebinding)."""

    def __init__(self, host: str, port: int, address: str, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=deadline.remaining())
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self._deadline.remaining())
        self._deadline.track(self.sock)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the vetted address; TLS sends SNI for, and verifies the certificate of, the host name."""

    def __init__(self, host: str, port: int, address: str, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=deadline.remaining(), context=ssl.create_default_context())
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self._deadline.remaining())
        context: ssl.SSLContext = self._context  # type: ignore[attr-defined]
        # Handshake once the TLS socket is tracked, so the watchdog can cut a handshake that stalls.
        self.sock = context.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
        self._deadline.track(self.sock)
        self.sock.do_handshake()


def fetch_url(
    url: str,
    *,
    resolver: Resolver = system_resolver,
    allow_hosts: Collection[str] = (),
    max_bytes: int = MAX_BYTES,
    timeout_s: float = TIMEOUT_S,
) -> Page:
    """GET `url`, following up to 3 redirects, each hop re-checked, all within `timeout_s` in total.

    `allow_hosts` exempts exact host names from the address check (a known internal service, a test
    server); a redirect to any other host is checked as usual.
    """
    deadline = _Deadline(timeout_s, url)
    current = url
    with deadline.watch():
        for _hop in range(MAX_REDIRECTS + 1):
            scheme, host, port, path, address = _check_url(current, resolver, allow_hosts)
            cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
            conn = cls(host, port, address, deadline)
            try:
                response = _get(conn, host, port, path, deadline)
                if response.status in (301, 302, 303, 307, 308):
                    current = _redirect_target(current, response)
                    continue
                page = _page(current, response, max_bytes, deadline)
                if deadline.expired:  # the watchdog cut the body short: what was read is not the page
                    raise deadline.error()
                return page
            except (OSError, http.client.HTTPException) as exc:
                raise _failure(exc, current, deadline) from None
            finally:
                conn.close()
    raise ToolFailure(f"{url!r} redirected more than {MAX_REDIRECTS} times")


def _get(
    conn: http.client.HTTPConnection, host: str, port: int, path: str, deadline: _Deadline
) -> http.client.HTTPResponse:
    host_header = host if port in (80, 443) else f"{host}:{port}"
    conn.request("GET", path, headers={
        "Host": host_header, "User-Agent": USER_AGENT, "Accept": "text/html, text/plain;q=0.9, */*;q=0.1",
        "Accept-Encoding": "identity",
    })
    deadline.limit()
    return conn.getresponse()


def _redirect_target(current: str, response: http.client.HTTPResponse) -> str:
    location = response.getheader("Location")
    if not location:
        raise ToolFailure(f"{current} redirected without a Location header")
    return urljoin(current, location)


def _page(current: str, response: http.client.HTTPResponse, max_bytes: int, deadline: _Deadline) -> Page:
    if response.status >= 400:
        raise ToolFailure(f"{current} answered HTTP {response.status} {response.reason}")
    content_type = (response.getheader("Content-Type") or "text/html").lower()
    mime = content_type.split(";", 1)[0].strip()
    if mime not in _TEXT_TYPES and not mime.startswith("text/"):
        raise ToolFailure(f"{current} is {mime!r}, not a text or HTML page")
    raw = _read_capped(response, max_bytes, deadline)
    charset = response.headers.get_content_charset() or "utf-8"
    try:
        body = raw[:max_bytes].decode(charset, errors="replace")
    except LookupError:
        body = raw[:max_bytes].decode("utf-8", errors="replace")
    return Page(url=current, status=response.status, content_type=mime, body=body, truncated=len(raw) > max_bytes)


def _read_capped(response: http.client.HTTPResponse, max_bytes: int, deadline: _Deadline) -> bytes:
    """Up to `max_bytes + 1` bytes of the body. `read1` returns what one socket read brings, so the budget is
    checked between chunks; `read(n)` would wait for all n bytes however slowly they trickle in."""
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        deadline.limit()
        chunk = response.read1(min(65536, max_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _failure(exc: OSError | http.client.HTTPException, current: str, deadline: _Deadline) -> ToolFailure:
    """The error the model sees for a network or protocol failure while fetching `current`."""
    if deadline.expired or isinstance(exc, TimeoutError):
        return deadline.error()
    if isinstance(exc, ssl.SSLError):
        return ToolFailure(f"TLS error fetching {current!r}: {exc.reason or exc}")
    return ToolFailure(f"could not fetch {current!r}: {type(exc).__name__}: {exc}")
