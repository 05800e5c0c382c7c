"""fetch_document: corpus ids, HTML reduction, and the SSRF guard (addresses, resolver, redirects, limits)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError

from lambda_tools.common import NotFound, Refused, ToolFailure
from lambda_tools.fetch_document import web
from lambda_tools.fetch_document.html_text import html_to_text
from lambda_tools.fetch_document.tool import FetchDocumentInput, run
from lambda_tools.fetch_document.web import fetch_url, is_public_address
from lambda_tools.spec import ToolContext

PAGE = """<!doctype html><html><head><title>Release notes</title><style>body{color:red}</style>
<script>var tracking = "SECRET-SCRIPT";</script></head>
<body><header>Site header MENU</header><nav><a href="/">Home</a> NAVIGATION</nav>
<main><h1>Version 2.0</h1><p>The scheduler is now <b>twice</b> as fast.</p>
<ul><li>New API</li><li>Fewer bugs</li></ul></main>
<footer>Copyright FOOTER</footer></body></html>"""


TRICKLE_BYTES = 40  # one every 0.5 s: 20 s in all, far past any deadline the tests set


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    hits: list[str] = []  # every path requested, to prove which requests reached this server

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.hits.append(self.path)
        if self.path.startswith("/trickle"):
            self._trickle(headers_too=self.path == "/trickle-headers")
            return
        if self.path == "/slow":
            time.sleep(1.0)
        status, headers, body = self.routes.get(self.path, (404, {}, b"missing"))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (size/time limits)
            pass

    def _trickle(self, *, headers_too: bool) -> None:
        """A server that is never silent long enough to trip a socket timeout, yet never finishes."""
        head = f"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {TRICKLE_BYTES}\r\n\r\n".encode()
        slow = head + b"x" * TRICKLE_BYTES if headers_too else b"x" * TRICKLE_BYTES
        try:
            if not headers_too:
                self.wfile.write(head)
            for byte in slow:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:  # the client gave up: stop sending
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    html = {"Content-Type": "text/html; charset=utf-8"}
    _Handler.routes = {
        "/page.html": (200, html, PAGE.encode()),
        "/to-page": (302, {"Location": "/page.html"}, b""),
        "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/to-internal": (301, {"Location": "http://internal.test/admin"}, b""),
        "/to-loopback-v6": (307, {"Location": "http://[::1]/"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/big": (200, {"Content-Type": "text/plain"}, b"word " * 200_000),
        "/image.png": (200, {"Content-Type": "image/png"}, b"\x89PNG...."),
        "/slow": (200, {"Content-Type": "text/plain"}, b"late"),
        "/gone": (410, {"Content-Type": "text/plain"}, b"gone"),
        "/to-rebinding": (302, {"Location": f"http://localhost:{httpd.server_address[1]}/page.html"}, b""),
    }
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base
    httpd.shutdown()
    httpd.server_close()


def fake_resolver(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


ALLOW_TEST_SERVER = {"fetch_allow_hosts": frozenset({"127.0.0.1"})}


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.5.4", "192.168.0.10", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.251", "240.0.0.1", "255.255.255.255", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
    "64:ff9b::a00:1", "2002:a00:1::", "::",
])
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://10.0.0.1/admin", "http://169.254.169.254/latest/meta-data/iam/",
    "http://[::1]:8080/", "http://0x7f.1/", "https://192.168.1.1/",
])
def test_private_urls_are_refused_before_connecting(url: str) -> None:
    def no_dns(host: str, port: int) -> list[str]:
        if host == "0x7f.1":  # what a system resolver makes of this spelling of 127.0.0.1
            return ["127.0.0.1"]
        raise AssertionError("IP literals must not be resolved")

    with pytest.raises(Refused, match="refused to fetch"):
        fetch_url(url, resolver=no_dns)


def test_hostname_resolving_to_a_private_address_is_refused() -> None:
    resolver = fake_resolver({"intranet.example.com": ["10.20.30.40"]})
    with pytest.raises(Refused, match="10.20.30.40"):
        fetch_url("https://intranet.example.com/payroll", resolver=resolver)


def test_any_private_address_among_several_is_refused() -> None:
    resolver = fake_resolver({"mixed.example.com": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(Refused):
        fetch_url("http://mixed.example.com/", resolver=resolver)


@pytest.mark.parametrize("url, message", [
    ("file:///etc/passwd", "only http and https"),
    ("ftp://example.com/x", "only http and https"),
    ("gopher://127.0.0.1:70/", "only http and https"),
    ("http://user:pw@example.com/", "credentials"),
    ("http:///nohost", "no host"),
])
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(Refused, match=message):
        fetch_url(url, resolver=fake_resolver({}))


def test_page_is_reduced_to_readable_text(server: str) -> None:
    result = run(FetchDocumentInput(url=server + "/page.html"), ToolContext(extras=ALLOW_TEST_SERVER))
    assert result["source"] == "web" and result["title"] == "Release notes"
    assert "Version 2.0" in result["text"] and "The scheduler is now twice as fast." in result["text"]
    assert "- New API" in result["text"]
    for hidden in ("SECRET-SCRIPT", "color:red", "NAVIGATION", "MENU", "FOOTER"):
        assert hidden not in result["text"]


def test_redirect_within_allowed_host_is_followed(server: str) -> None:
    result = run(FetchDocumentInput(url=server + "/to-page"), ToolContext(extras=ALLOW_TEST_SERVER))
    assert result["url"].endswith("/page.html")


@pytest.mark.parametrize("path, address", [
    ("/to-metadata", "169.254.169.254"), ("/to-internal", "10.0.0.8"), ("/to-loopback-v6", "::1"),
])
def test_redirect_into_a_private_address_is_refused(server: str, path: str, address: str) -> None:
    resolver = fake_resolver({"internal.test": ["10.0.0.8"]})
    with pytest.raises(Refused, match=address.replace(".", r"\.")):
        fetch_url(server + path, resolver=resolver, allow_hosts={"127.0.0.1"})


def test_the_test_server_itself_is_refused_without_the_allow_list(server: str) -> None:
    with pytest.raises(Refused):
        fetch_url(server + "/page.html")


def test_redirect_loops_stop(server: str) -> None:
    with pytest.raises(ToolFailure, match="redirected more than 3 times"):
        fetch_url(server + "/loop", allow_hosts={"127.0.0.1"})


def test_size_limit_truncates(server: str) -> None:
    page = fetch_url(server + "/big", allow_hosts={"127.0.0.1"}, max_bytes=10_000)
    assert page.truncated and len(page.body) == 10_000


def test_time_limit(server: str) -> None:
    with pytest.raises(ToolFailure, match="timed out|longer than"):
        fetch_url(server + "/slow", allow_hosts={"127.0.0.1"}, timeout_s=0.2)


@pytest.mark.parametrize("path", ["/trickle", "/trickle-headers"])
def test_a_trickling_server_cannot_hold_the_fetch_past_its_deadline(server: str, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(ToolFailure, match=r"timed out: no complete answer within 1.5 s"):
        fetch_url(server + path, allow_hosts={"127.0.0.1"}, timeout_s=1.5)
    assert time.monotonic() - started < 1.5 + 1.0
    assert not [t for t in threading.enumerate() if t.name == "fetch-deadline"]  # nothing left waiting


PUBLIC = "93.184.216.34"


class Rebinding:
    """A DNS that answers a public address on the first lookup (the one vetted), then the loopback address;
    and the addresses connections went to."""

    def __init__(self) -> None:
        self.lookups = 0
        self.connected: list[str] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.lookups += 1
        return [PUBLIC] if self.lookups == 1 else ["127.0.0.1"]


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Rebinding:
    """The public address is unreachable from the tests; every other address is connected to for real, so a
    second lookup (by this resolver or the system's: `localhost`) would reach the local server."""
    dns = Rebinding()
    _Handler.hits.clear()
    real = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        dns.connected.append(address[0])
        if address[0] == PUBLIC:
            raise ConnectionRefusedError("the public address is not reachable from the tests")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(web.socket, "create_connection", create_connection)
    return dns


def test_dns_rebinding_cannot_reach_the_local_server(server: str, rebinding: Rebinding) -> None:
    port = urlsplit(server).port
    with pytest.raises(ToolFailure, match="ConnectionRefusedError"):
        fetch_url(f"http://localhost:{port}/page.html", resolver=rebinding.resolve)
    assert rebinding.connected == [PUBLIC] and _Handler.hits == []


def test_dns_rebinding_on_a_redirect_hop_cannot_reach_the_local_server(server: str, rebinding: Rebinding) -> None:
    with pytest.raises(ToolFailure, match="ConnectionRefusedError"):
        fetch_url(server + "/to-rebinding", resolver=rebinding.resolve, allow_hosts={"127.0.0.1"})
    assert rebinding.connected == ["127.0.0.1", PUBLIC] and _Handler.hits == ["/to-rebinding"]


def test_binary_content_and_http_errors_are_reported(server: str) -> None:
    with pytest.raises(ToolFailure, match="image/png"):
        fetch_url(server + "/image.png", allow_hosts={"127.0.0.1"})
    with pytest.raises(ToolFailure, match="HTTP 410"):
        fetch_url(server + "/gone", allow_hosts={"127.0.0.1"})


def test_corpus_document_by_id(ctx: ToolContext) -> None:
    result = run(FetchDocumentInput(document_id="asyncio/tasks"), ctx)
    assert result["source"] == "corpus" and result["title"] == "Asyncio tasks and coroutines"
    assert "asyncio.create_task()" in result["text"] and not result["truncated"]


def test_max_chars_truncates_on_a_word(ctx: ToolContext) -> None:
    result = run(FetchDocumentInput(document_id="asyncio/blocking", max_chars=100), ctx)
    assert result["truncated"] and len(result["text"]) <= 100 and result["chars"] == len(result["text"])


def test_unknown_and_malicious_ids(ctx: ToolContext) -> None:
    with pytest.raises(NotFound, match="no document with id 'asyncio/nope'"):
        run(FetchDocumentInput(document_id="asyncio/nope"), ctx)
    with pytest.raises(ValidationError):
        FetchDocumentInput(document_id="../../etc/passwd")
    with pytest.raises(NotFound, match="invalid document id"):
        ctx.documents.get("../outside")


def test_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        FetchDocumentInput()
    with pytest.raises(ValidationError, match="exactly one"):
        FetchDocumentInput(document_id="a", url="http://example.com")


def test_html_to_text_survives_broken_markup() -> None:
    title, text = html_to_text("<title>T</title><p>One<script>bad()<p>Two</div></p>")
    assert title == "T" and "bad()" not in text and "One" in text
