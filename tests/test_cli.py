"""The `agent-platform` command: runs with live progress or JSON events, lists, ingest, and bad input
answered with one red line and exit code 2."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_runtime.cli import app
from agent_runtime.events import TERMINAL_TYPES, parse_event
from agent_runtime.store.sqlite import SQLiteSessionMemory
from lambda_tools.catalog import TOOL_NAMES
from lambda_tools.search_documents.index import clear_cache

DOCS = {
    "asyncio/tasks.md": "# Asyncio tasks\n\nA task wraps a coroutine and schedules it on the event loop; "
    "asyncio.create_task() starts one and asyncio.gather() waits for several.\n",
    "asyncio/blocking.md": "# Running blocking code\n\nBlocking calls stall the event loop. Run them in a worker "
    "thread with asyncio.to_thread() so other tasks keep running.\n",
    "cooking/bread.txt": "Bread\n\nMix flour, water and salt, let the dough rise and bake it.\n",
}


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    for name, text in DOCS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    clear_cache()
    return root


@pytest.fixture
def data_dir(_isolated_environment: Path) -> Path:
    return _isolated_environment  # AGENT_PLATFORM_DATA_DIR, set by the shared test fixture


runner = CliRunner()


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_run_json_prints_one_event_per_line_from_started_to_terminal(docs: Path) -> None:
    result = runner.invoke(app, ["run", "research", "How do asyncio tasks work?", "--docs", str(docs), "--json"])
    assert result.exit_code == 0, result.output
    events = events_of(result.stdout)
    for event in events:
        parse_event(event)  # every line is a valid event of the union
    assert events[0]["type"] == "task.started" and events[0]["offline"] is True
    assert events[-1]["type"] == "task.finished"
    assert [e["type"] in TERMINAL_TYPES for e in events].count(True) == 1
    assert events[-1]["usage"]["prompt_tokens"] > 0 and events[-1]["steps"] == 4
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert "[asyncio/tasks]" in events[-1]["answer"]


def test_run_shows_live_progress_then_the_answer_and_its_cost(docs: Path) -> None:
    result = runner.invoke(app, ["run", "research", "How do I run blocking code in asyncio?", "--docs", str(docs)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "offline: deterministic planner" in out
    for expected in ("Step 1", "search_documents", "fetch_document", "summarize_document", "Answer",
                     "Produced offline by the deterministic planner", "[asyncio/blocking]"):
        assert expected in out
    assert out.index("Step 1") < out.index("Step 2") < out.index("Answer")
    last = out.strip().splitlines()[-1]
    assert "4 steps" in last and "tokens" in last and "$0.0000" in last and last.endswith(" s")


@pytest.mark.parametrize(("args", "message"), [
    (["run", "nobody", "hello"], "unknown agent 'nobody'; known agents: analysis, content, research"),
    (["run", "research", "   "], "the task is empty"),
    (["run", "research", "hello", "--docs", "/no/such/folder"], "--docs /no/such/folder: no such folder"),
    (["run", "research", "hello", "--max-steps", "0"], "--max-steps 0: use a number from 1 to 200"),
    (["run", "research", "hello", "--session", "bad id!"], "--session 'bad id!'"),
    (["ingest", "/no/such/folder"], "/no/such/folder: no such folder"),
])
def test_bad_input_gets_one_red_line_and_exit_code_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, docs: Path) -> None:
    monkeypatch.setenv("AGENT_PLATFORM_TOOL_MODE", "telepathy")
    result = runner.invoke(app, ["run", "research", "hello", "--docs", str(docs)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: bad settings: AGENT_PLATFORM_TOOL_MODE: Input should be 'native' or 'react'"]


def test_without_a_terminal_sensitive_calls_are_denied(docs: Path, data_dir: Path) -> None:
    result = runner.invoke(app, ["run", "content", "Write a note about asyncio tasks and publish it",
                                 "--docs", str(docs), "--json"])
    assert result.exit_code == 0
    events = events_of(result.stdout)
    resolved = [e for e in events if e["type"] == "approval.resolved"]
    assert [(e["approved"], e["decided_by"]) for e in resolved] == [(False, "policy")]
    assert "--approve all" in resolved[0]["reason"]
    assert "**Not published**" in events[-1]["answer"]
    assert not list((data_dir / "reports").rglob("*.md"))


def test_approve_all_lets_the_content_agent_publish(docs: Path, data_dir: Path) -> None:
    result = runner.invoke(app, ["run", "content", "Write a note about asyncio tasks and publish it",
                                 "--docs", str(docs), "--json", "--approve", "all"])
    assert result.exit_code == 0
    reports = list((data_dir / "reports").rglob("*.md"))
    assert len(reports) == 1 and reports[0].read_text().startswith("# Asyncio tasks")
    assert str(reports[0]) in events_of(result.stdout)[-1]["answer"]


def test_a_guard_stop_exits_1(docs: Path) -> None:
    result = runner.invoke(app, ["run", "research", "asyncio tasks", "--docs", str(docs), "--json", "--max-steps", "2"])
    assert result.exit_code == 1
    last = events_of(result.stdout)[-1]
    assert last["type"] == "task.failed" and last["stop_reason"] == "max_steps"


def test_session_turns_are_kept_in_sqlite_under_the_data_dir(docs: Path, data_dir: Path) -> None:
    for task in ("How do asyncio tasks work?", "And blocking code?"):
        result = runner.invoke(app, ["run", "research", task, "--docs", str(docs), "--json", "--session", "s-1"])
        assert result.exit_code == 0
        assert events_of(result.stdout)[0]["session_id"] == "s-1"
    history = asyncio.run(SQLiteSessionMemory(data_dir / "sessions.sqlite3").load("s-1"))
    assert [m["content"] for m in history if m["role"] == "user"] == ["How do asyncio tasks work?", "And blocking code?"]


def test_agents_lists_the_three_agents() -> None:
    table = runner.invoke(app, ["agents"])
    assert table.exit_code == 0
    for name in ("research", "content", "analysis"):
        assert name in table.stdout
    listed = json.loads(runner.invoke(app, ["agents", "--json"]).stdout)
    assert [a["name"] for a in listed] == ["research", "content", "analysis"]
    assert "publish_report" in next(a for a in listed if a["name"] == "content")["tools"]


def test_tools_lists_the_seven_tools_and_which_need_approval() -> None:
    table = runner.invoke(app, ["tools"])
    assert table.exit_code == 0
    for name in TOOL_NAMES:
        assert name in table.stdout
    listed = json.loads(runner.invoke(app, ["tools", "--json"]).stdout)
    assert len(listed) == 7 and {t["name"] for t in listed} == set(TOOL_NAMES)
    assert [t["name"] for t in listed if t["sensitive"]] == ["publish_report"]


def test_ingest_builds_the_search_index_of_a_folder(docs: Path) -> None:
    result = runner.invoke(app, ["ingest", str(docs)])
    assert result.exit_code == 0, result.output
    assert "Indexed 3 documents" in result.stdout
    assert (docs / ".search-index.json").is_file()


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run([sys.executable, "-m", "agent_runtime", "agents", "--json"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert {a["name"] for a in json.loads(done.stdout)} == {"research", "content", "analysis"}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("AGENT_PLATFORM_PRICES", "nope", "AGENT_PLATFORM_PRICES: Value error, not valid JSON"),
    ("AGENT_PLATFORM_PRICES", '{"m": [1]}', "AGENT_PLATFORM_PRICES (m.1): Field required"),
    ("AGENT_PLATFORM_TOOL_FUNCTIONS", "{x", "AGENT_PLATFORM_TOOL_FUNCTIONS: Value error, not valid JSON"),
])
def test_bad_settings_get_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                       message: str) -> None:
    monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["run", "research", "what is a deque?"])
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.output
