"""`agent-platform run ... --trace`: the task's span tree after the answer, with no backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_runtime import tracing
from agent_runtime.cli import app
from agent_runtime.tracing.tree import render

runner = CliRunner()


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "asyncio.md").write_text("# asyncio\n\nasyncio.to_thread() runs blocking code in a thread so the event "
                                     "loop keeps running; asyncio.create_task() schedules a coroutine.\n")
    return docs


def test_run_trace_prints_the_span_tree_after_the_answer(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "research", "How do I run blocking code in asyncio?", "--docs",
                                 str(_docs(tmp_path)), "--trace"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    root = next(i for i, line in enumerate(lines) if line.startswith("invoke_agent research"))
    assert root > next(i for i, line in enumerate(lines) if "tokens" in line and "·" in line)  # after the answer
    assert "outcome=succeeded" in lines[root] and " ms" in lines[root]
    tree = lines[root + 1:]
    assert tree[0].startswith("├─ chat offline") and "finish=tool_calls" in tree[0]
    assert any(line.startswith("├─ execute_tool search_documents") and "outcome=ok" in line for line in tree)
    assert tree[-1].startswith("└─ chat offline") and "finish=stop" in tree[-1]
    assert not tracing.enabled()  # the run's provider is gone with the command


def test_with_json_the_tree_goes_to_stderr(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "research", "How do I run blocking code in asyncio?", "--docs",
                                 str(_docs(tmp_path)), "--trace", "--json"])
    assert result.exit_code == 0
    assert all(json.loads(line)["type"] for line in result.stdout.splitlines())
    assert "invoke_agent research" in result.stderr


def test_without_trace_no_tree(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "research", "How do I run blocking code in asyncio?", "--docs",
                                 str(_docs(tmp_path))])
    assert "invoke_agent" not in result.output


def test_nested_spans_are_drawn_under_their_parent() -> None:
    class Ctx:
        def __init__(self, span_id: int) -> None:
            self.span_id = span_id

    class Span:
        def __init__(self, name: str, span_id: int, parent: int | None, start: int) -> None:
            self.name, self.context, self.start_time, self.end_time = name, Ctx(span_id), start, start + 2_000_000
            self.parent, self.attributes = Ctx(parent) if parent else None, {}

    lines = render([Span("root", 1, None, 0), Span("tool", 2, 1, 1), Span("wait", 3, 2, 2), Span("chat", 4, 1, 3)])
    assert lines == ["root  2.0 ms", "├─ tool  2.0 ms", "│  └─ wait  2.0 ms", "└─ chat  2.0 ms"]


def test_an_unusable_tracing_setting_is_one_error_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    result = runner.invoke(app, ["run", "research", "hello"])
    assert result.exit_code == 2
    assert "bad settings: OTEL_EXPORTER_OTLP_PROTOCOL: Input should be 'http/protobuf'" in result.stderr
