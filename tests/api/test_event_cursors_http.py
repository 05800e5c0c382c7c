"""Bad event cursors over real HTTP: `Last-Event-ID` and `?after=` beyond the stores' integers, or written
with digits of other scripts, are a 422 with a clear error on the JSON page and on the SSE stream, never a
500 or a broken stream; the largest cursor accepted still works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from tests.api.support import API_KEY, ServerThread, make_tools, scripted_factory

BAD = ["9223372036854775808", str(10**30), "1000000000000000000", "١٢٣", "²", "-1", "+5", "1e3", "", "0x10", "1_0",
       "5.0"]


@pytest.fixture(scope="module")
def finished_task(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, str]]:
    data_dir: Path = tmp_path_factory.mktemp("cursors")
    settings = Settings(data_dir=data_dir, api_keys=API_KEY, store="sqlite", queue="local", agent=None,
                        rate_limit_per_s=0)  # (the requests of this module alone pass the default burst)
    platform = create_platform(settings, runtime_factory=scripted_factory(make_tools()), heartbeat_s=0.3,
                               poll_s=0.1)
    with ServerThread(platform.app) as server, httpx.Client(
        base_url=f"{server.url}/v1/agents/research/tasks", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=20,
    ) as client:
        task_id = client.post("/", json={"input": "hello"}, follow_redirects=True).json()["task_id"]
        with connect_sse(client, "GET", f"/{task_id}/events") as source:
            assert [s.event for s in source.iter_sse()][-1] == "task.finished"
        yield client, task_id


def _assert_422(r: httpx.Response, where: str) -> None:
    assert r.status_code == 422, (r.status_code, r.text)
    error = r.json()["error"]
    # e.g. "header.Last-Event-ID: String should match pattern '^[0-9]{1,18}$'"
    assert error["code"] == "validation_error" and error["message"].startswith(where), error


@pytest.mark.parametrize("cursor", BAD)
@pytest.mark.parametrize("fmt", ["json", "sse"])
def test_a_bad_last_event_id_is_422(finished_task: tuple[httpx.Client, str], cursor: str, fmt: str) -> None:
    client, task_id = finished_task
    # Header bytes are read as Latin-1: '²' arrives as itself (b'\xb2'), '١٢٣' as its UTF-8 bytes.
    raw = cursor.encode("latin-1") if cursor.isascii() or cursor == "²" else cursor.encode()
    r = client.get(f"/{task_id}/events", params={"format": fmt}, headers={b"Last-Event-ID": raw})
    _assert_422(r, "header.Last-Event-ID: ")


@pytest.mark.parametrize("cursor", [*BAD, " 5"])  # (a header's value cannot begin with a space)
@pytest.mark.parametrize("fmt", ["json", "sse"])
def test_a_bad_after_is_422(finished_task: tuple[httpx.Client, str], cursor: str, fmt: str) -> None:
    client, task_id = finished_task
    _assert_422(client.get(f"/{task_id}/events", params={"format": fmt, "after": cursor}), "query.after: ")


@pytest.mark.parametrize("limit", ["+5", "1_0", "5.0", " 5", "٥", "0", "1001"])
def test_a_bad_page_limit_is_422(finished_task: tuple[httpx.Client, str], limit: str) -> None:
    client, task_id = finished_task
    _assert_422(client.get(f"/{task_id}/events", params={"format": "json", "limit": limit}), "query.limit: ")


def test_the_largest_cursors_still_work(finished_task: tuple[httpx.Client, str]) -> None:
    client, task_id = finished_task
    top = str(10**18 - 1)
    page = client.get(f"/{task_id}/events", params={"format": "json"}, headers={"Last-Event-ID": top}).json()
    assert page["events"] == [] and page["next_after"] == 10**18 - 1 and page["done"]
    assert client.get(f"/{task_id}/events", params={"format": "json", "after": top}).json()["events"] == []
    with connect_sse(client, "GET", f"/{task_id}/events", headers={"Last-Event-ID": top}) as source:
        assert source.response.status_code == 200 and list(source.iter_sse()) == []  # nothing after it: closes
    page = client.get(f"/{task_id}/events", params={"format": "json"}, headers={"Last-Event-ID": "0003"}).json()
    assert page["events"][0]["seq"] == 4


def test_the_openapi_document_declares_the_cursor_bounds(finished_task: tuple[httpx.Client, str]) -> None:
    client, _ = finished_task
    doc = client.get(client.base_url.copy_with(path="/openapi.json"))
    params = {p["name"]: p for p in doc.json()["paths"]["/v1/agents/{agent}/tasks/{task_id}/events"]["get"]
              ["parameters"]}
    assert params["Last-Event-ID"]["in"] == "header"
    schema = params["Last-Event-ID"]["schema"]
    assert (schema["type"], schema["pattern"]) == ("string", "^[0-9]{1,18}$") and not params["Last-Event-ID"]["required"]
    assert params["after"]["schema"]["maximum"] == 10**18 - 1
