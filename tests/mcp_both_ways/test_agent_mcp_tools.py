"""Agents using the tools of an MCP server the test starts (`tests/fakes/mcp_notes_server.py`): offline through
the CLI and through the task API with the calls in the event log, approvals for a sensitive MCP tool,
validation and errors as the model reads them, and an HTTP server behind a bearer token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from moto import mock_aws

from agent_runtime.agent_file import AgentSpec, parse_agents
from agent_runtime.checkpoint import ApprovalDecision, ApprovalRequest
from agent_runtime.errors import ConfigurationError
from agent_runtime.limits import Limits
from agent_runtime.loop import Agent
from agent_runtime.mcp.declaration import McpServerDeclaration
from agent_runtime.mcp.tools import mcp_tools, server_token
from agent_runtime.redact import REDACTED, redact
from tests.api.support import free_port
from tests.fakes.scripted_model import ScriptedModel, call, final, tool_results
from tests.mcp_both_ways.support import REPO, serving

NOTES_SERVER = [sys.executable, "-m", "tests.fakes.mcp_notes_server"]
TOKEN = "notes-token-0123456789abcdef"


def _agents_file(folder: Path, tickets: Path) -> Path:
    path = folder / "agents.toml"
    path.write_text(f'''
[[agents]]
name = "helpdesk"
description = "Answers from the team notes and the documents."
instructions = "Look the topic up in the team notes and the documents, then answer."
tools = ["search_documents"]

[[agents.mcp_servers]]
name = "notes"
command = {json.dumps(sys.executable)}
args = ["-m", "tests.fakes.mcp_notes_server", "--tickets", {json.dumps(str(tickets))}]
tools = ["lookup_note", "file_ticket"]
sensitive = ["file_ticket"]
timeout_s = 20
''', encoding="utf-8")
    return path


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "deploys.md").write_text("# Deploys\n\nBlue/green deploys keep two fleets.\n", encoding="utf-8")
    return folder


def _environ(agents_file: Path, data_dir: Path, docs: Path) -> dict[str, str]:
    environ = {**os.environ, "AGENT_PLATFORM_AGENTS_FILE": str(agents_file), "AGENT_PLATFORM_MODEL": "offline",
               "AGENT_PLATFORM_DATA_DIR": str(data_dir), "AGENT_PLATFORM_DOCS_DIR": str(docs)}
    environ.pop("AGENT_PLATFORM_AGENTS_JSON", None)
    return environ


def _mcp_calls(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] == "tool.finished" and e["tool"] == "lookup_note"]


def test_an_agent_runs_a_task_offline_with_its_mcp_tool(tmp_path: Path, docs: Path) -> None:
    tickets = tmp_path / "tickets.txt"
    done = subprocess.run([sys.executable, "-m", "agent_runtime", "run", "helpdesk", "How do blue/green deploys work?",
                           "--json"], capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
                          env=_environ(_agents_file(tmp_path, tickets), tmp_path / "data", docs))
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    (finished,) = _mcp_calls(events)
    assert finished["ok"] and "switch the load balancer" in finished["result"]
    started = [e for e in events if e["type"] == "tool.started" and e["tool"] == "lookup_note"]
    assert started[0]["arguments"] == {"topic": "blue green deploys work"}
    answer = events[-1]["answer"]
    assert events[-1]["type"] == "task.finished" and "switch the load balancer" in answer and "[deploys]" in answer
    assert "file_ticket" not in {e.get("tool") for e in events}  # a sensitive tool is never called on a guess


@pytest.fixture
def served(tmp_path: Path, docs: Path) -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = tmp_path / "data"
    environ = _environ(_agents_file(tmp_path, tmp_path / "tickets.txt"), data_dir, docs)
    port = free_port()
    with serving([sys.executable, "-m", "agent_runtime", "serve", "--port", str(port)], f"http://127.0.0.1:{port}/healthz",
                 env=environ):
        key = (data_dir / "api-key").read_text().strip()
        yield f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}


def test_an_agent_runs_a_task_with_its_mcp_tool_through_the_api(served: tuple[str, dict[str, str]]) -> None:
    url, auth = served
    agents = httpx.get(f"{url}/v1/agents", headers=auth).json()["agents"]
    helpdesk = next(a for a in agents if a["name"] == "helpdesk")
    assert {t["name"]: t["sensitive"] for t in helpdesk["tools"]} == {
        "search_documents": False, "lookup_note": False, "file_ticket": True}
    task = httpx.post(f"{url}/v1/agents/helpdesk/tasks", headers=auth,
                      json={"input": "What do the notes say about asyncio?"}).json()
    deadline = time.monotonic() + 60
    while (state := httpx.get(f"{url}/v1/agents/helpdesk/tasks/{task['task_id']}", headers=auth).json())["state"] \
            not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["state"] == "succeeded", state
    events = httpx.get(f"{url}/v1/agents/helpdesk/tasks/{task['task_id']}/events", headers=auth,
                       params={"format": "json"}).json()["events"]
    (finished,) = _mcp_calls(events)
    assert finished["ok"] and "create_task" in finished["result"]
    assert events[-1]["type"] == "task.finished" and "create_task" in events[-1]["answer"]


@pytest.fixture(scope="module")
def notes_tools() -> Iterator[dict]:
    server = McpServerDeclaration(name="notes", command=sys.executable, args=("-m", "tests.fakes.mcp_notes_server"),
                                  tools=("lookup_note", "file_ticket", "wait_seconds"), sensitive=("file_ticket",),
                                  timeout_s=20)
    yield mcp_tools([server])


def _agent(tools: dict, script: list, approve: bool | None, limits: Limits | None = None) -> Agent:
    spec = AgentSpec(name="helpdesk", description="d", instructions="i", tools=())

    async def approver(request: ApprovalRequest) -> ApprovalDecision:
        assert request.tool == "file_ticket" and request.arguments == {"title": "Rotate keys"}
        return ApprovalDecision(bool(approve), None if approve else "not now", "test")

    return Agent(spec, ScriptedModel(script), tools, approver=approver if approve is not None else None,
                 limits=limits)


@pytest.mark.parametrize("approve", [True, False])
async def test_a_sensitive_mcp_tool_waits_for_its_approval(notes_tools: dict, approve: bool) -> None:
    script = [call("file_ticket", {"title": "Rotate keys"}), final(lambda m: tool_results(m)[-1])]
    result = await _agent(notes_tools, script, approve).run("File a ticket")
    kinds = [e.type for e in result.events]
    assert kinds.index("approval.requested") < kinds.index("approval.resolved") < kinds.index("tool.finished")
    assert result.answer == ('{"result": "filed: Rotate keys"}' if approve
                             else "ERROR: the call to file_ticket was rejected (test): not now")


async def test_bad_arguments_are_refused_before_the_server_sees_them(notes_tools: dict) -> None:
    script = [call("lookup_note", {"subject": "deploys"}), final(lambda m: tool_results(m)[-1])]
    result = await _agent(notes_tools, script, None).run("Look it up")
    assert result.answer is not None and result.answer.startswith("ERROR: invalid arguments for lookup_note")
    assert "'topic' is a required property" in result.answer


async def test_a_slow_mcp_call_times_out_and_the_next_call_still_works(notes_tools: dict) -> None:
    script = [call("wait_seconds", {"seconds": 5}), call("lookup_note", {"topic": "asyncio"}),
              final(lambda m: " | ".join(tool_results(m)))]
    lookup = notes_tools["lookup_note"]  # connected first: starting the server takes longer than the limit below
    await lookup.invoke(lookup.spec.input_model.model_validate({"topic": "x"}), task_id="t", call_id="warm-up")
    result = await _agent(notes_tools, script, None, Limits(tool_timeout_s=1)).run("Wait, then look it up")
    assert result.answer is not None
    timed_out, looked_up = result.answer.split(" | ")
    assert timed_out == "ERROR: wait_seconds timed out after 1 s"
    assert "create_task" in looked_up


def test_a_tool_the_server_does_not_offer_stops_the_agent_before_it_runs() -> None:
    server = McpServerDeclaration(name="notes", command=sys.executable, args=("-m", "tests.fakes.mcp_notes_server"),
                                  tools=("lookup_note", "delete_everything"))
    with pytest.raises(ConfigurationError, match="MCP server 'notes' does not offer 'delete_everything'; it offers: "
                                                 "file_ticket, lookup_note, wait_seconds"):
        mcp_tools([server])


@pytest.fixture(scope="module")
def notes_over_http() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with serving([*NOTES_SERVER, "--http", str(port), "--token", TOKEN], url, within_s=30):
        yield url


async def test_an_http_mcp_server_is_reached_with_the_token_from_the_environment(
        notes_over_http: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (spec,) = parse_agents({"agents": [{
        "name": "helpdesk", "description": "d", "instructions": "i", "tools": [],
        "mcp_servers": [{"name": "notes", "url": notes_over_http, "tools": ["lookup_note"],
                         "token_env": "NOTES_TOKEN"}]}]}, source="test").values()
    monkeypatch.setenv("NOTES_TOKEN", "wrong-token-0123456789")
    with pytest.raises(ConfigurationError, match="MCP server 'notes': cannot list its tools"):
        mcp_tools(spec.mcp_servers)
    monkeypatch.setenv("NOTES_TOKEN", TOKEN)
    tools = mcp_tools(spec.mcp_servers)
    script = [call("lookup_note", {"topic": "deploys"}), final(lambda m: tool_results(m)[-1])]
    result = await _agent(tools, script, None).run("Look it up")
    assert result.answer is not None and "two fleets" in result.answer.lower()
    assert TOKEN not in json.dumps([e.model_dump(mode="json") for e in result.events])


def test_a_server_that_cannot_start_stops_the_agent_with_one_line() -> None:
    server = McpServerDeclaration(name="notes", command="/nonexistent/notes-mcp", tools=("lookup_note",))
    with pytest.raises(ConfigurationError, match=r"^MCP server 'notes': cannot list its tools \(FileNotFoundError"):
        mcp_tools([server])


def test_in_aws_the_token_comes_from_the_named_secret_and_is_redacted() -> None:
    server = McpServerDeclaration(name="wiki", url="https://wiki.example.com/mcp", tools=("read_page",),
                                  secret="wiki/mcp-token")
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        with pytest.raises(ConfigurationError, match="MCP server 'wiki': cannot read secret 'wiki/mcp-token'"):
            server_token(server, secrets_client=client)
        client.create_secret(Name="wiki/mcp-token", SecretString=" wiki-token-0123456789 \n")
        assert server_token(server, secrets_client=client) == "wiki-token-0123456789"
    assert redact("upstream said: wiki-token-0123456789") == f"upstream said: {REDACTED}"
