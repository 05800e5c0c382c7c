"""LocalTool: the catalog function on the tool's own threads, failures mapped to ToolError; abandoned calls
(timed out, cancelled) never write afterwards and never starve other tools."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agent_runtime.errors import ToolError, ToolInputError
from agent_runtime.tools import LocalTool
from agent_runtime.tools.base import Tool
from lambda_tools.backends import FolderDocuments, FolderReports
from lambda_tools.catalog import get_tool
from lambda_tools.common import NotFound
from lambda_tools.spec import ToolContext, ToolSpec
from tests.api.support import wait_until


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


class _HangIn(BaseModel):
    cooperative: bool = False


def _hang(args: _HangIn, ctx: ToolContext) -> dict[str, Any]:
    """Hangs well past any timeout; a cooperative hang ends when its call is abandoned."""
    if args.cooperative:
        ctx.cancel.wait(10)
    else:
        time.sleep(2)
    return {}


def _spec(name: str, run: Any) -> ToolSpec:
    return ToolSpec(name=name, description=name, input_model=_HangIn, run=run, handler="tests.none")


async def _timed_out(tool: LocalTool, n: int, *, cooperative: bool, limit_s: float = 0.2) -> None:
    async def one(i: int) -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(limit_s):
                await tool.invoke(_HangIn(cooperative=cooperative), task_id="t", call_id=f"c{i}")

    await asyncio.gather(*(one(i) for i in range(n)))


async def test_calls_hung_past_their_timeout_do_not_starve_other_tools() -> None:
    hang = LocalTool(_spec("hang", _hang), max_threads=8)
    fast = LocalTool(_spec("fast", lambda a, c: {"ok": True}))
    await _timed_out(hang, 20, cooperative=False)
    assert (hang.occupied, hang.abandoned) == (8, 8)  # reported; the 12 still queued never start
    t0 = time.monotonic()
    assert await fast.invoke(_HangIn(), task_id="t", call_id="fast") == {"ok": True}
    assert time.monotonic() - t0 < 0.5


async def test_a_timeout_ends_a_cooperative_call_s_work() -> None:
    hang = LocalTool(_spec("hang", _hang), max_threads=4)
    await _timed_out(hang, 4, cooperative=True)

    async def freed() -> bool:
        return (hang.occupied, hang.abandoned) == (0, 0)

    await wait_until(freed, within_s=2)  # the threads are free again, not still hanging


async def test_an_abandoned_call_never_writes(tmp_path: Path) -> None:
    def slow_publish(args: _HangIn, ctx: ToolContext) -> dict[str, Any]:
        time.sleep(0.5)
        ctx.reports.publish("t/c.md", "body", title="t", audience=None)
        return {}

    tool = LocalTool(_spec("writer", slow_publish), reports=FolderReports(tmp_path))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await tool.invoke(_HangIn(), task_id="t", call_id="c")
    await asyncio.sleep(1.0)
    assert await asyncio.to_thread(lambda: list(tmp_path.rglob("*.md"))) == [] and tool.occupied == 0


async def test_an_abandonment_waits_for_a_write_under_way(tmp_path: Path) -> None:
    writing, wrote = threading.Event(), threading.Event()

    class SlowSink:
        def publish(self, key: str, body: str, *, title: str, audience: str | None) -> Any:
            writing.set()
            time.sleep(0.3)
            wrote.set()

    def publish(args: _HangIn, ctx: ToolContext) -> dict[str, Any]:
        ctx.reports.publish("k", "b", title="t", audience=None)
        return {}

    tool = LocalTool(_spec("writer", publish), reports=SlowSink())
    call = asyncio.create_task(tool.invoke(_HangIn(), task_id="t", call_id="c"))
    await asyncio.to_thread(writing.wait, 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert wrote.is_set()  # when the cancel is confirmed, the write it could not stop has ended
