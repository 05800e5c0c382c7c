"""The agents file: the shipped one declares the three agents, a fourth agent added to a file is listed
and runs offline, and every bad declaration is one line naming the agent and the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent_runtime import envnames as env
from agent_runtime.agent_file import (
    DEFAULT_AGENTS_FILE,
    AgentFileError,
    agents_document,
    declared_agents,
    parse_agents,
    read_agents_file,
)
from agent_runtime.agents import AGENTS
from agent_runtime.models.offline.analysis import analysis
from agent_runtime.models.offline.model import playbook_for
from agent_runtime.table_keys import AGENT_NAME
from tests.agent_file_support import FOURTH, FOURTH_TOOLS, agents_file_with_fourth

GOOD = {"name": "writer", "description": "Writes.", "instructions": "Write.", "tools": ["search_documents"]}
NOTES = {"name": "notes", "command": "notes-mcp", "tools": ["lookup_note", "file_ticket"], "sensitive": ["file_ticket"]}
HTTP_NOTES = {"name": "notes", "url": "https://notes.example.com/mcp", "tools": ["lookup_note"],
              "secret": "notes-mcp-token"}


def _cli(*args: str, agents_file: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, env.AGENTS_FILE: str(agents_file), env.MODEL: "offline"}
    environ.pop(env.AGENTS_JSON, None)
    return subprocess.run([sys.executable, "-m", "agent_runtime", *args], capture_output=True, text=True,
                          timeout=120, check=False, env=environ, cwd=cwd)


def test_the_shipped_file_declares_the_three_agents() -> None:
    assert list(read_agents_file(DEFAULT_AGENTS_FILE)) == list(AGENTS) == ["research", "content", "analysis"]


def test_agent_names_fit_the_table_key_prefixes() -> None:
    assert all(AGENT_NAME.fullmatch(name) for name in AGENTS)


def test_the_json_a_service_is_given_reads_back_as_the_same_agents() -> None:
    inline = json.dumps(agents_document(AGENTS))
    assert declared_agents({env.AGENTS_JSON: inline}) == dict(AGENTS)


def test_mcp_servers_read_back_from_the_json_a_service_is_given() -> None:
    remote = {**HTTP_NOTES, "name": "wiki", "tools": ["read_wiki"], "timeout_s": 5}
    agents = parse_agents({"agents": [{**GOOD, "mcp_servers": [NOTES, remote]}]}, source="agents.toml")
    assert agents["writer"].mcp_tools == ("lookup_note", "file_ticket", "read_wiki")
    assert agents["writer"].tools == ("search_documents",)  # catalog tools only: the stack grants these
    assert declared_agents({env.AGENTS_JSON: json.dumps(agents_document(agents))}) == agents


def test_a_fourth_agent_is_listed(tmp_path: Path) -> None:
    done = _cli("agents", "--json", agents_file=agents_file_with_fourth(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    fourth = json.loads(done.stdout)[-1]
    assert (fourth["name"], fourth["tools"], fourth["max_steps"]) == (FOURTH, list(FOURTH_TOOLS), 6)
    assert (fourth["model"], fourth["concurrency"]) == ("gpt-4o", 8)


def test_a_fourth_agent_runs_offline_with_its_own_tools(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tasks.md").write_text("# Asyncio tasks\n\nA task wraps a coroutine and schedules it on the event "
                                   "loop; asyncio.create_task() starts one.\n", encoding="utf-8")
    done = _cli("run", FOURTH, "How do asyncio tasks start?", "--docs", str(docs), "--json",
                agents_file=agents_file_with_fourth(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[-1]["type"] == "task.finished" and "[tasks]" in events[-1]["answer"]
    called = {e["tool"] for e in events if e["type"] == "tool.finished"}
    assert called and called <= set(FOURTH_TOOLS)


def test_a_bad_file_stops_the_cli_with_its_problems_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "agents.toml"
    bad.write_text('[[agents]]\nname = "x"\ndescription = "d"\ninstructions = "i"\ntools = ["nope"]\n')
    done = _cli("agents", agents_file=bad, cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "agent 'x', tools: unknown tool 'nope'" in done.stderr


@pytest.mark.parametrize(("agents", "line"), [
    ([{**GOOD, "tools": ["search_documents", "send_email"]}],
     "agent 'writer', tools: unknown tool 'send_email'; known tools: "),
    ([GOOD, {**GOOD, "description": "Again."}], "agent 'writer', name: declared twice"),
    ([{**GOOD, "limits": {"max_steps": 0}}], "agent 'writer', limits.max_steps: Input should be greater than"),
    ([{**GOOD, "limits": {"max_step": 3}}], "agent 'writer', limits.max_step: Extra inputs are not permitted"),
    ([{**GOOD, "service": {"cpu": 300}}], "agent 'writer', service: cpu 300 is not a Fargate size"),
    ([{**GOOD, "service": {"cpu": 512, "memory_mib": 512}}],
     "agent 'writer', service: cpu 512 with memory_mib 512 is not a Fargate size"),
    ([{**GOOD, "service": {"min_tasks": 3, "max_tasks": 2}}], "agent 'writer', service: min_tasks 3 exceeds max_tasks 2"),
    ([{**GOOD, "name": "Writer"}], "agent 'Writer', name: String should match pattern"),
    ([{**GOOD, "concurrency": 0}], "agent 'writer', concurrency: Input should be greater than or equal to 1"),
    ([{k: v for k, v in GOOD.items() if k != "tools"}], "agent 'writer', tools: Field required"),
    ([{**GOOD, "tools": []}], "agent 'writer': tools: give at least one tool"),
    ([{**GOOD, "mcp_servers": [{**NOTES, "url": "https://notes.example.com/mcp"}]}],
     "agent 'writer', mcp_servers 'notes': give either command (a stdio server) or url"),
    ([{**GOOD, "mcp_servers": [{k: v for k, v in NOTES.items() if k != "command"}]}],
     "agent 'writer', mcp_servers 'notes': give either command (a stdio server) or url"),
    ([{**GOOD, "mcp_servers": [{**NOTES, "sensitive": ["file_tickets"]}]}],
     "agent 'writer', mcp_servers 'notes': sensitive names 'file_tickets', which is not in tools"),
    ([{**GOOD, "mcp_servers": [{**NOTES, "tools": ["lookup note"]}]}],
     "agent 'writer', mcp_servers 'notes', tools: tool name 'lookup note' is not 1-64 letters"),
    ([{**GOOD, "mcp_servers": [{**NOTES, "timeout_s": 0}]}],
     "agent 'writer', mcp_servers 'notes', timeout_s: Input should be greater than or equal to 1"),
    ([{**GOOD, "mcp_servers": [{**NOTES, "tools": ["search_documents"], "sensitive": []}]}],
     "agent 'writer', mcp_servers: tool 'search_documents' of server 'notes' is also a tool of the catalog"),
    ([{**GOOD, "mcp_servers": [NOTES, {**NOTES, "tools": ["other"], "sensitive": []}]}],
     "agent 'writer', mcp_servers: server 'notes' is declared twice"),
    ([{**GOOD, "mcp_servers": [{**HTTP_NOTES, "url": "ftp://notes.example.com"}]}],
     "agent 'writer', mcp_servers 'notes', url: 'ftp://notes.example.com' is not an http(s) URL"),
    ([{**GOOD, "mcp_servers": [{**HTTP_NOTES, "url": "https://me:pw@notes.example.com/mcp"}]}],
     "agent 'writer', mcp_servers 'notes', url: put credentials in token_env or secret"),
    ([{**GOOD, "mcp_servers": [{**HTTP_NOTES, "secret": "arn:aws:secretsmanager:us-east-1:123:secret:x"}]}],
     "agent 'writer', mcp_servers 'notes', secret: 'arn:aws:secretsmanager:us-east-1:123:secret:x' is not a "
     "complete Secrets Manager secret ARN"),
    ([{**GOOD, "mcp_servers": [{**NOTES, "secret": "notes-token"}]}],
     "agent 'writer', mcp_servers 'notes': token_env and secret go with url"),
    ([{**GOOD, "mcp_servers": [{**NOTES, "env": {"A": "b"}}]}],
     "agent 'writer', mcp_servers 'notes', env: Extra inputs are not permitted"),
])
def test_a_bad_declaration_is_one_line_naming_agent_and_field(agents: list[dict], line: str) -> None:
    with pytest.raises(AgentFileError) as caught:
        parse_agents({"agents": agents}, source="agents.toml")
    assert len(caught.value.problems) == 1 and caught.value.problems[0].startswith(line), caught.value.problems


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    agents = [{**GOOD, "tools": ["nope"]}, {**GOOD, "name": "other", "limits": {"max_steps": 0}}]
    with pytest.raises(AgentFileError) as caught:
        parse_agents({"agents": agents}, source="agents.toml")
    assert [p.split(":")[0] for p in caught.value.problems] == ["agent 'writer', tools", "agent 'other', limits.max_steps"]


def test_a_file_that_is_not_toml_or_declares_nobody_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text("[[agents]\n")
    with pytest.raises(AgentFileError, match="not valid TOML"):
        read_agents_file(path)
    with pytest.raises(AgentFileError, match=r"declare at least one agent"):
        parse_agents(tomllib.loads("title = 'none'"), source="agents.toml")


def test_an_agent_with_analyze_data_gets_the_analysis_playbook_offline() -> None:
    (spec,) = parse_agents({"agents": [{**GOOD, "name": "numbers", "tools": ["analyze_data"]}]},
                           source="agents.toml").values()
    assert playbook_for(spec) is analysis
