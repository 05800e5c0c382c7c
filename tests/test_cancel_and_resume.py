"""Task semantics users rely on, through the worker: a cancel leaves no new side effect behind, and a
resumed task continues its event log without duplicates (docs/runtime.md, Durability)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agent_runtime.agents import RESEARCH
from agent_runtime.store.notify import Notifier
from agent_runtime.tools.local import LocalTool
from agent_runtime.worker import AgentRuntime
from lambda_tools.backends import FolderReports, report_key
from lambda_tools.spec import ToolContext, ToolSpec
from tests.api.support import SCRIPTS, wait_until
from tests.fakes.scripted_model import ScriptedModel, call, calls, final, tool_results
from tests.test_worker import Rig, _true, running


class WriteIn(BaseModel):
    text: str = "report"


def slow_write(args: WriteIn, ctx: ToolContext) -> dict[str, Any]:
    """A writing tool: sleeps 1.5 s, then writes a report file through its reports backend."""
    time.sleep(1.5)
    published = ctx.reports.publish(report_key(ctx.task_id, ctx.call_id), args.text, title="t", audience=None)
    return {"location": published.location}


SEMANTICS_SCRIPTS = {
    **SCRIPTS,
    "write": [call("writer", {"text": "body"}), final("written")],
    "pair": [calls(("echo", {"text": "fast"}), ("slow", {"text": "slow", "seconds": 1})),
             final(lambda m: " | ".join(tool_results(m)))],
}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path)
    writer = LocalTool(ToolSpec(name="writer", description="writes", input_model=WriteIn, run=slow_write,
                                handler="tests.none", timeout_s=30), reports=FolderReports(tmp_path / "reports"))
    tools = {**r.tools, "writer": writer}
    r.runtimes["research"] = AgentRuntime(RESEARCH, ScriptedModel(SEMANTICS_SCRIPTS), tools)  # type: ignore[arg-type]
    yield r
    await r.store.close()


async def events_of(rig: Rig, task_id: str) -> list[tuple[int, str, dict[str, Any]]]:
    return [(e.seq, e.type, json.loads(e.data)) for e in await rig.store.list_events(task_id)]


# -- cancel --------------------------------------------------------------------------------------------


async def test_a_cancelled_writing_call_never_writes(rig: Rig, tmp_path: Path) -> None:
    task_id = await rig.submit("write")
    async with running(rig.worker()) as w:
        await wait_until(lambda: rig.has_event(task_id, "tool.started"))
        await asyncio.sleep(0.3)  # the tool is asleep before its write
        await rig.store.request_cancel(task_id)
        w.notify_cancel(task_id)
        task = await rig.done(task_id)
    assert task.state == "cancelled"
    await asyncio.sleep(3)  # well past the tool's sleep: its write was refused, not merely unseen
    assert list((tmp_path / "reports").rglob("*.md")) == []
    events = await events_of(rig, task_id)
    finished = [d for _, t, d in events if t == "tool.finished"]
    assert [(d["outcome"], d["ok"]) for d in finished] == [("cancelled", False)]
    assert [t for _, t, _ in events][-2:] == ["tool.finished", "task.cancelled"]


async def test_a_cancel_rejects_the_pending_approval(rig: Rig) -> None:
    task_id = await rig.submit("publish")
    async with running(rig.worker(notifier=Notifier())):  # the cancel is seen through the store
        await wait_until(lambda: rig.has_event(task_id, "approval.requested"))
        await rig.store.request_cancel(task_id)
        task = await rig.done(task_id)
    assert task.state == "cancelled" and rig.tools["publish"].started(task_id) == []
    (record,) = await rig.store.list_approvals(task_id)
    assert (record.status, record.reason, record.decided_by) == ("rejected", "cancelled", "cancel")
    types = [(t, d.get("outcome"), d.get("decided_by")) for _, t, d in await events_of(rig, task_id)]
    assert types[-3:] == [("approval.resolved", None, "cancel"), ("tool.finished", "cancelled", None),
                          ("task.cancelled", None, None)]


async def test_an_approved_sensitive_call_does_not_start_after_a_stored_cancel(rig: Rig) -> None:
    notifier = Notifier()
    task_id = await rig.submit("publish")
    async with running(rig.worker(notifier=notifier, poll_s=30)):  # the heartbeat reads the store rarely
        await wait_until(lambda: rig.has_event(task_id, "approval.requested"))
        (pending,) = await rig.store.list_approvals(task_id, pending_only=True)
        await rig.store.request_cancel(task_id)  # accepted by another replica's API, not signalled here
        await rig.store.decide_approval(task_id, pending.call_id, approved=True, reason="ok", decided_by="api")
        notifier.notify(("approval", task_id, pending.call_id))  # the approval is seen at once
        task = await rig.done(task_id)
    assert task.state == "cancelled" and rig.tools["publish"].started(task_id) == []
    finished = [json.loads(e.data) for e in await rig.store.list_events(task_id) if e.type == "tool.finished"]
    assert [d["outcome"] for d in finished] == ["cancelled"]


# -- resume --------------------------------------------------------------------------------------------


async def test_a_resumed_call_runs_again_under_one_retry_event(rig: Rig) -> None:
    task_id = await rig.submit("crash")
    async with running(rig.worker()):
        await wait_until(lambda: _true(len(rig.tools["slow"].started(task_id)) == 1))
    async with running(rig.worker()):
        task = await rig.done(task_id)
    assert task.state == "succeeded"
    events = await events_of(rig, task_id)
    assert [s for s, _, _ in events] == list(range(1, len(events) + 1))  # gap-free and unique
    started = [d for _, t, d in events if t == "tool.started" and d["call_id"] == "call_1_0"]
    assert [d["retry"] for d in started] == [False, True]
    assert Counter(d["call_id"] for _, t, d in events if t == "tool.finished") == {"call_0_0": 1, "call_1_0": 1}


async def test_a_task_resumed_while_waiting_for_approval_does_not_ask_again(rig: Rig) -> None:
    task_id = await rig.submit("publish")
    async with running(rig.worker()):
        await wait_until(lambda: rig.has_event(task_id, "approval.requested"))
    async with running(rig.worker()) as w:
        await wait_until(lambda: rig.has_event(task_id, "task.started", 2))
        assert (await rig.store.get_task(task_id)).state == "waiting_approval"
        (pending,) = await rig.store.list_approvals(task_id, pending_only=True)
        await rig.store.decide_approval(task_id, pending.call_id, approved=True, reason="ok", decided_by="api")
        w.notifier.notify(("approval", task_id, pending.call_id))
        task = await rig.done(task_id)
    assert task.state == "succeeded" and rig.tools["publish"].started(task_id) == [pending.call_id]
    events = await events_of(rig, task_id)
    assert [s for s, _, _ in events] == list(range(1, len(events) + 1))
    counts = Counter(t for _, t, d in events if d.get("call_id") == pending.call_id)
    assert counts == {"tool.started": 2, "approval.requested": 1, "approval.resolved": 1, "tool.finished": 1}
    started = [d["retry"] for _, t, d in events if t == "tool.started"]
    assert started == [False, True]


async def test_a_resumed_turn_reruns_only_its_unfinished_call(rig: Rig) -> None:
    """Two calls in one turn: the fast one finished and was checkpointed, the slow one was cut off."""
    task_id = await rig.submit("pair")

    async def fast_checkpointed() -> bool:
        cp = await rig.store.load_checkpoint(task_id)
        return cp is not None and any(m.get("tool_call_id") == "call_0_0" for m in cp.messages)

    async with running(rig.worker()):
        await wait_until(lambda: _true(len(rig.tools["slow"].started(task_id)) == 1))
        await wait_until(fast_checkpointed)
    assert rig.tools["slow"].finished(task_id) == []
    async with running(rig.worker()):
        task = await rig.done(task_id)
    assert task.state == "succeeded"
    assert rig.tools["echo"].started(task_id) == ["call_0_0"]  # finished and checkpointed: not re-run
    assert rig.tools["slow"].started(task_id) == ["call_0_1", "call_0_1"]  # interrupted: re-run
    assert task.answer == '{"tool": "echo", "text": "fast"} | {"tool": "slow", "text": "slow"}'
    events = await events_of(rig, task_id)
    assert [s for s, _, _ in events] == list(range(1, len(events) + 1))
