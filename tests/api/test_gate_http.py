"""Cheap refusals first, over real HTTP: 401 before a body is read or parsed, 408 for a body trickled in,
429 beyond a key's open streams or a principal's request rate, X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from agent_runtime.cli.keys import FileKeyStore
from agent_runtime.principals import KeyRing, new_key
from agent_runtime.server import create_platform, keys_file, proxy_options
from agent_runtime.settings import Settings
from tests.api.support import API_KEY, ServerThread, free_port, make_tools, scripted_factory

NAMES = ("streamer", "hammer", "slowpoke")
BURST = 6


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("gate")
    settings = Settings(data_dir=data_dir, api_keys=API_KEY, store="sqlite", queue="local", agent=None,
                        rate_limit_per_s=0.5, rate_limit_burst=BURST, max_streams_per_key=1, body_timeout_s=0.5)
    ring, keys = KeyRing(), {}
    for name in NAMES:
        keys[name], record = new_key(name, ["submit"])
        ring.add(record)
    FileKeyStore(keys_file(settings)).write(ring.to_document())
    platform = create_platform(settings, runtime_factory=scripted_factory(make_tools()), heartbeat_s=0.3,
                               poll_s=0.1)
    with ServerThread(platform.app) as server:
        yield server.url, keys


def _raw(url: str, request: bytes, *, then: bytes = b"", pause_s: float = 0.0) -> bytes:
    """Send `request`, wait `pause_s`, send `then`, and return what the server answered."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        if pause_s:
            time.sleep(pause_s)
        if then:
            try:
                sock.sendall(then)
            except OSError:
                pass  # the server answered and closed already
        answer = sock.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                       if line.startswith(b"content-length:")), 0)
        while len(body) < length and (more := sock.recv(65536)):
            body += more
        return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("body", [b"x" * 2_000_000, b"{not json", b'{"input": 7}'])
def test_a_bad_key_is_401_whatever_the_body(gate: tuple[str, dict[str, str]], body: bytes) -> None:
    url, _ = gate
    head = (f"POST /v1/agents/research/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    answer = _raw(url, head, then=body[:1000])  # the rest of a huge body never needs to be sent
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]


def test_a_missing_key_with_a_huge_declared_body_is_401(gate: tuple[str, dict[str, str]]) -> None:
    url, _ = gate
    answer = _raw(url, b"POST /v1/agents/research/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401 ")


def test_a_body_trickled_in_is_cut_off_with_408(gate: tuple[str, dict[str, str]]) -> None:
    url, keys = gate
    head = (f"POST /v1/agents/research/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {keys['slowpoke']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"input\": ").encode()
    started = time.monotonic()
    answer = _raw(url, head)  # the other ~90 bytes never come
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"request_timeout" in answer and time.monotonic() - started < 5


def test_open_streams_per_key_are_bounded(gate: tuple[str, dict[str, str]]) -> None:
    url, keys = gate
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['streamer']}"}, timeout=10) as http:
        task_id = http.post("/v1/agents/research/tasks", json={"input": "slow"}).json()["task_id"]
        events = f"/v1/agents/research/tasks/{task_id}/events"
        with http.stream("GET", events) as first:
            assert first.status_code == 200
            second = http.get(events)
            assert second.status_code == 429 and second.json()["error"]["code"] == "too_many_streams"
            assert int(second.headers["Retry-After"]) > 0
            assert http.get(events, params={"format": "json"}).status_code == 200  # polling still works
        http.post(f"/v1/agents/research/tasks/{task_id}/cancel")
        deadline = time.monotonic() + 5  # the slot comes back when the stream ends
        while http.get(events).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_a_principal_over_its_rate_gets_429_with_retry_after(gate: tuple[str, dict[str, str]]) -> None:
    url, keys = gate
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['hammer']}"}, timeout=10) as http:
        statuses = [http.get("/v1/agents") for _ in range(BURST + 2)]
    assert [r.status_code for r in statuses[:BURST]] == [200] * BURST
    refused = statuses[-1]
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    other = httpx.get(f"{url}/v1/agents", headers={"Authorization": f"Bearer {API_KEY}"})
    assert other.status_code == 200  # the bucket is the principal's, not the server's


def _whoami_server(trusted: str) -> Any:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        return {"client": request.client.host if request.client else ""}

    options = proxy_options(Settings(trusted_proxies=trusted))
    port = free_port()
    server = ServerThread(app, port)
    server.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                  **options))
    server.thread = threading.Thread(target=server.server.run, daemon=True)
    return server


@pytest.mark.parametrize(("trusted", "seen"), [("127.0.0.1/32", "203.0.113.9"), ("10.0.0.0/8", "127.0.0.1"),
                                               ("", "127.0.0.1")])
def test_x_forwarded_for_counts_only_from_trusted_proxies(trusted: str, seen: str) -> None:
    with _whoami_server(trusted) as server:
        r = httpx.get(f"{server.url}/whoami", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.json()["client"] == seen


def test_trusted_proxies_must_be_addresses_or_cidrs() -> None:
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        Settings(trusted_proxies="10.0.0.0/8, example.com")
