"""`agent-platform mcp`, driven by the MCP SDK's own client over stdio and streamable HTTP: the seven tools
with the catalog's schemas, a real `search_documents` call, `publish_report` refused unless the client's
user confirms it (elicitation), and over HTTP 401 without the API key, 403 without the submit role."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from agent_runtime.mcp.http import http_app
from agent_runtime.mcp.server import catalog_server
from agent_runtime.principals import KeyRing, new_key
from agent_runtime.settings import Settings
from agent_runtime.tools import build_tools
from lambda_tools.catalog import CATALOG, TOOL_NAMES
from tests.api.support import ServerThread, free_port
from tests.mcp_both_ways.support import REPO, serving

KEY = "mcp-test-key-0123456789abcdef"
REPORT = {"title": "Blue/green deploys", "markdown": "# Blue/green\n\nTwo fleets, one switch."}


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    (folder / "deploys.md").write_text("# Deploys\n\nBlue/green deploys keep two fleets and switch the load "
                                       "balancer between them.\n", encoding="utf-8")
    (folder / "asyncio.md").write_text("# Asyncio\n\nasyncio.create_task() schedules a coroutine.\n")
    return folder


def _environ(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "AGENT_PLATFORM_DATA_DIR": str(data_dir), "AGENT_PLATFORM_API_KEYS": KEY,
            "AGENT_PLATFORM_LOG_LEVEL": "WARNING"}


def _stdio(docs: Path, data_dir: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "agent_runtime", "mcp", "--docs", str(docs)],
                                 env=_environ(data_dir), cwd=str(REPO))


def _reports(data_dir: Path) -> list[Path]:
    folder = data_dir / "reports"
    return sorted(folder.rglob("*.md")) if folder.exists() else []


async def _confirm(_: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    assert "publish_report" in params.message and "Blue/green deploys" in params.message
    return types.ElicitResult(action="accept", content={"confirm": True})


async def _decline(_: Any, __: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="decline")


async def test_stdio_lists_the_seven_tools_with_the_catalog_schemas(docs: Path, tmp_path: Path) -> None:
    async with Client(_stdio(docs, tmp_path)) as client:
        listed = (await client.list_tools()).tools
    assert [t.name for t in listed] == list(TOOL_NAMES)
    for tool, spec in zip(listed, CATALOG, strict=True):
        assert tool.input_schema == spec.parameters_schema()
        assert tool.description.startswith(spec.description)
    assert [t.name for t in listed if t.annotations and t.annotations.destructive_hint] == ["publish_report"]


async def test_stdio_search_documents_searches_the_given_folder(docs: Path, tmp_path: Path) -> None:
    async with Client(_stdio(docs, tmp_path)) as client:
        result = await client.call_tool("search_documents", {"query": "blue green deploys", "limit": 3})
        bad = await client.call_tool("search_documents", {"query": "x", "limit": "many"})
    assert not result.is_error
    assert result.structured_content["results"][0]["id"] == "deploys"
    assert bad.is_error and "invalid arguments for search_documents" in bad.content[0].text


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # 2026-07-28 (input_required) and the handshake era
async def test_publish_report_is_refused_when_the_client_cannot_confirm(docs: Path, tmp_path: Path, mode: str) -> None:
    async with Client(_stdio(docs, tmp_path), mode=mode) as client:
        result = await client.call_tool("publish_report", REPORT)
    assert result.is_error
    assert "sensitive" in result.content[0].text and "cannot ask" in result.content[0].text
    assert _reports(tmp_path) == []


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_publish_report_runs_once_confirmed_and_not_when_declined(docs: Path, tmp_path: Path, mode: str) -> None:
    async with Client(_stdio(docs, tmp_path), mode=mode, elicitation_callback=_decline) as client:
        declined = await client.call_tool("publish_report", REPORT)
    assert declined.is_error and "not confirmed" in declined.content[0].text and _reports(tmp_path) == []
    async with Client(_stdio(docs, tmp_path), mode=mode, elicitation_callback=_confirm) as client:
        published = await client.call_tool("publish_report", REPORT)
    assert not published.is_error, published.content
    (report,) = _reports(tmp_path)
    assert "Two fleets, one switch." in report.read_text()


async def test_a_confirmation_sent_without_being_asked_does_not_count(docs: Path, tmp_path: Path) -> None:
    """On 2026-07-28 the answer rides the retried call: one the server did not ask for (no matching request
    state) makes it ask, and the user's decline stands."""
    forged = {"confirm": types.ElicitResult(action="accept", content={"confirm": True})}
    async with Client(_stdio(docs, tmp_path), elicitation_callback=_decline) as client:
        result = await client.call_tool("publish_report", REPORT, input_responses=forged, request_state="made-up")
    assert result.is_error and "not confirmed" in result.content[0].text and _reports(tmp_path) == []


@pytest.fixture(scope="module")
def http_server(docs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("mcp-http-data")
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    command = [sys.executable, "-m", "agent_runtime", "mcp", "--http", "--port", str(port), "--docs", str(docs)]
    with serving(command, url, env=_environ(data_dir)):
        yield url, data_dir


def test_http_without_the_key_is_401(http_server: tuple[str, Path]) -> None:
    url, _ = http_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789"}):
        response = httpx.post(url, json=body, headers={"Accept": "application/json, text/event-stream", **headers})
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


async def test_http_with_the_key_lists_calls_and_refuses_publishing(http_server: tuple[str, Path]) -> None:
    url, data_dir = http_server
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        listed = (await client.list_tools()).tools
        found = await client.call_tool("search_documents", {"query": "asyncio create_task"})
        refused = await client.call_tool("publish_report", REPORT)
    assert {t.name: t.input_schema for t in listed} == {s.name: s.parameters_schema() for s in CATALOG}
    assert found.structured_content["results"][0]["id"] == "asyncio"
    assert refused.is_error and "cannot ask" in refused.content[0].text and _reports(data_dir) == []


class _Keys:
    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring

    async def ring(self) -> KeyRing:
        return self._ring


async def test_http_calls_need_the_submit_role(docs: Path, tmp_path: Path) -> None:
    ring = KeyRing()
    reviewer, record = new_key("alice", ["approve"])
    ring.add(record)
    submitter, record = new_key("ci", ["submit"])
    ring.add(record)
    tools = build_tools(TOOL_NAMES, Settings(), docs_dir=docs, data_dir=tmp_path)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    with ServerThread(http_app(catalog_server(tools), _Keys(ring))) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            refused = await http.post("/mcp", json=body, headers={
                "Authorization": f"Bearer {reviewer}", "Accept": "application/json, text/event-stream"})
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {submitter}"}) as http2, \
                Client(streamable_http_client(f"{server.url}/mcp", http_client=http2)) as client:
            listed = (await client.list_tools()).tools
    assert refused.status_code == 403 and "needs the 'submit' role" in refused.json()["error"]["message"]
    assert len(listed) == len(TOOL_NAMES)
