"""LocalTool: the catalog function in a worker thread, failures mapped to ToolError."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from agent_runtime.errors import ToolError, ToolInputError
from agent_runtime.tools import LocalTool
from agent_runtime.tools.base import Tool
from lambda_tools.backends import FolderDocuments, FolderReports
from lambda_tools.catalog import get_tool
from lambda_tools.common import NotFound


async def test_runs_the_real_tool(docs_dir: Path) -> None:
    spec = get_tool("search_documents")
    tool = LocalTool(spec, documents=FolderDocuments(docs_dir))
    assert isinstance(tool, Tool)
    data = await tool.invoke(spec.input_model(query="blocking thread"), task_id="t", call_id="c")
    assert data["results"][0]["id"] == "threads"


async def test_runs_off_the_event_loop_thread() -> None:
    seen: list[int] = []

    def record(args, ctx):
        seen.append(threading.get_ident())
        return {"task": ctx.task_id, "call": ctx.call_id}

    spec = replace(get_tool("classify_content"), run=record)
    data = await LocalTool(spec).invoke(spec.input_model(text="x", categories=["a"]), task_id="t1", call_id="c1")
    assert data == {"task": "t1", "call": "c1"}
    assert seen and seen[0] != threading.get_ident()


async def test_tool_failure_becomes_a_tool_error(docs_dir: Path) -> None:
    spec = get_tool("fetch_document")
    tool = LocalTool(spec, documents=FolderDocuments(docs_dir))
    with pytest.raises(ToolError, match="no document with id 'missing'") as info:
        await tool.invoke(spec.input_model(document_id="missing"), task_id="t", call_id="c")
    assert not isinstance(info.value, NotFound)


async def test_foreign_arguments_are_revalidated() -> None:
    tool = LocalTool(get_tool("classify_content"))
    with pytest.raises(ToolInputError, match="categories"):
        await tool.invoke(get_tool("search_documents").input_model(query="x"), task_id="t", call_id="c")


async def test_publish_uses_the_call_ids(tmp_path: Path) -> None:
    spec = get_tool("publish_report")
    tool = LocalTool(spec, reports=FolderReports(tmp_path))
    args = spec.input_model(title="T", markdown="body")
    first = await tool.invoke(args, task_id="task-3", call_id="call-4")
    again = await tool.invoke(args, task_id="task-3", call_id="call-4")
    assert first["location"] == str(tmp_path / "task-3" / "call-4.md") and again["already_published"] is True
