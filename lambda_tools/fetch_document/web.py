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
import time
from collections.abc import Callable, Collection
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


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def fetch_url(
    url: str,
    *,
    resolver: Resolver = system_resolver,
    allow_hosts: Collection[str] = (),
    max_bytes: int = MAX_BYTES,
    timeout_s: float = TIMEOUT_S,
) -> Page:
    """GET `url`, following up to 3 redirects, each hop re-checked.

    `allow_hosts` exempts exact host names from the address check (a known internal service, a test
    server); a redirect to any other host is checked as usual.
    """
    deadline = time.monotonic() + timeout_s
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        scheme, host, port, path, address = _check_url(current, resolver, allow_hosts)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ToolFailure(f"fetching {url!r} took longer than {timeout_s:g} s")
        cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        conn = cls(host, port, address, timeout=min(remaining, timeout_s))
        try:
            host_header = host if port in (80, 443) else f"{host}:{port}"
            conn.request("GET", path, headers={
                "Host": host_header, "User-Agent": USER_AGENT, "Accept": "text/html, text/plain;q=0.9, */*;q=0.1",
                "Accept-Encoding": "identity",
            })
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise ToolFailure(f"{current} redirected without a Location header")
                current = urljoin(current, location)
                continue
            if response.status >= 400:
                raise ToolFailure(f"{current} answered HTTP {response.status} {response.reason}")
            content_type = (response.getheader("Content-Type") or "text/html").lower()
            mime = content_type.split(";", 1)[0].strip()
            if mime not in _TEXT_TYPES and not mime.startswith("text/"):
                raise ToolFailure(f"{current} is {mime!r}, not a text or HTML page")
            raw = _read_capped(response, max_bytes, deadline, url, timeout_s)
            charset = response.headers.get_content_charset() or "utf-8"
            try:
                body = raw[:max_bytes].decode(charset, errors="replace")
            except LookupError:
                body = raw[:max_bytes].decode("utf-8", errors="replace")
            return Page(url=current, status=response.status, content_type=mime, body=body,
                        truncated=len(raw) > max_bytes)
        except TimeoutError:
            raise ToolFailure(f"fetching {current!r} timed out") from None
        except ssl.SSLError as exc:
            raise ToolFailure(f"TLS error fetching {current!r}: {exc.reason or exc}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise ToolFailure(f"could not fetch {current!r}: {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()
    raise ToolFailure(f"{url!r} redirected more than {MAX_REDIRECTS} times")


def _read_capped(response: http.client.HTTPResponse, max_bytes: int, deadline: float, url: str, limit: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        if time.monotonic() > deadline:
            raise ToolFailure(f"fetching {url!r} took longer than {limit:g} s")
        chunk = response.read(min(65536, max_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
