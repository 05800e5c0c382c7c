"""Approvals: the durable approver over SQLite (record, wait, wake-up, deadline by policy, late decisions)
and how the loop puts a deadline around local approvers but not around one that keeps its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_runtime.approvals import DurableApprover, until_deadline
from agent_runtime.checkpoint import ApprovalDecision, ApprovalRequest, Checkpoint, DeadlineApprover
from agent_runtime.errors import ConflictError
from agent_runtime.events import ApprovalRequested, ApprovalResolved, ModelTurn, ToolCallStarted
from agent_runtime.limits import Limits
from agent_runtime.store.base import TaskRecord
from agent_runtime.store.notify import Notifier
from agent_runtime.store.sqlite import SQLiteStore
from tests.test_loop import RecordingTool, calls, final, make_agent, tool_messages


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "a.db")
    yield s
    await s.close()


def requested(deadline_in_s: float, call_id: str = "c1") -> ApprovalRequested:
    return ApprovalRequested(task_id="t1", seq=3, ts=time.time(), step=1, call_id=call_id, tool="publish",
                             arguments={"text": "post"}, deadline=time.time() + deadline_in_s)


def request_of(event: ApprovalRequested) -> ApprovalRequest:
    return ApprovalRequest(event.task_id, event.call_id, event.tool, event.arguments, event.deadline, event.step)


async def test_open_stores_the_pending_record_once(store: SQLiteStore) -> None:
    approver = DurableApprover(store, Notifier())
    first = await approver.open(requested(60))
    again = await approver.open(requested(999))  # a resumed task asks again: the first deadline stands
    assert first.status == again.status == "pending" and again.deadline == first.deadline
    assert [(a.call_id, a.tool, a.arguments) for a in await store.list_approvals("t1")] == [
        ("c1", "publish", {"text": "post"})]


async def test_a_decision_wakes_the_waiter_at_once_through_the_notifier(store: SQLiteStore) -> None:
    notifier = Notifier()
    approver = DurableApprover(store, notifier, poll_s=30.0)  # polling alone would take 30 s
    event = requested(60)
    await approver.open(event)
    waiting = asyncio.create_task(approver(request_of(event)))
    await asyncio.sleep(0.05)
    await store.decide_approval("t1", "c1", approved=True, reason="ok", decided_by="api")
    notifier.notify(("approval", "t1", "c1"))
    decision = await asyncio.wait_for(waiting, 2.0)
    assert decision == ApprovalDecision(True, "ok", "api")


async def test_a_decision_stored_in_another_process_is_found_by_polling(store: SQLiteStore) -> None:
    approver = DurableApprover(store, Notifier(), poll_s=0.05)
    event = requested(60)
    await approver.open(event)
    waiting = asyncio.create_task(approver(request_of(event)))
    await asyncio.sleep(0.05)
    await store.decide_approval("t1", "c1", approved=False, reason="no", decided_by="api")  # no notify
    assert await asyncio.wait_for(waiting, 2.0) == ApprovalDecision(False, "no", "api")


@pytest.mark.parametrize("policy", ["deny", "approve"])
async def test_the_deadline_settles_by_policy_and_a_late_decision_conflicts(store: SQLiteStore, policy: str) -> None:
    approver = DurableApprover(store, Notifier(), policy=policy, poll_s=0.05)  # type: ignore[arg-type]
    event = requested(0.2)
    await approver.open(event)
    decision = await approver(request_of(event))
    assert time.time() >= event.deadline
    assert (decision.approved, decision.decided_by) == (policy == "approve", "timeout")
    assert f"policy: {policy}" in (decision.reason or "")
    record = await store.get_approval("t1", "c1")
    assert (record.approved, record.decided_by) == (policy == "approve", "timeout")
    with pytest.raises(ConflictError):
        await store.decide_approval("t1", "c1", approved=True, reason=None, decided_by="api")


async def test_a_decision_stored_before_the_deadline_counts_after_it(store: SQLiteStore) -> None:
    approver = DurableApprover(store, Notifier())
    event = requested(0.05)
    await approver.open(event)
    await store.decide_approval("t1", "c1", approved=True, reason="yes", decided_by="api")
    await asyncio.sleep(0.1)  # no worker ran while the deadline passed
    assert await approver(request_of(event)) == ApprovalDecision(True, "yes", "api")


async def test_until_deadline_rejects_an_approver_that_does_not_answer_in_time() -> None:
    async def slow(request: ApprovalRequest) -> ApprovalDecision:
        await asyncio.sleep(5)
        return ApprovalDecision(True)

    decision = await until_deadline(slow)(request_of(requested(0.05)))
    assert (decision.approved, decision.decided_by) == (False, "timeout")


async def test_the_loop_adds_no_deadline_to_an_approver_that_keeps_its_own() -> None:
    class Late(DeadlineApprover):
        async def __call__(self, request: ApprovalRequest) -> ApprovalDecision:
            await asyncio.sleep(max(0.0, request.deadline - time.time()) + 0.1)
            return ApprovalDecision(True, "decided just after the deadline", "policy")

    tool = RecordingTool("publish", sensitive=True)
    agent, model = make_agent([calls(("publish", {"text": "p"})), final()], tool, approver=Late(),
                              limits=Limits(approval_timeout_s=0.05))
    result = await agent.run("x")
    assert result.status == "succeeded" and len(tool.calls) == 1
    assert "ERROR" not in tool_messages(model.seen[1])[0]


async def test_the_turn_log_holds_the_last_turn_s_approvals_whatever_the_checkpoint_says(store: SQLiteStore) -> None:
    """A long log (the window grows to reach the turn's start), an approval resolved before the checkpoint
    and dropped from it by a sibling's result, and one announced after the last checkpoint."""
    await store.create_task(TaskRecord(task_id="research-t", agent="research", input="x"))
    now, seq = time.time(), 0
    events: list = []

    def add(cls: type, **fields: object) -> None:
        nonlocal seq
        seq += 1
        events.append(cls(task_id="research-t", seq=seq, ts=now, **fields))

    add(ModelTurn, step=1)
    add(ApprovalRequested, step=1, call_id="earlier", tool="publish", arguments={}, deadline=now)
    add(ModelTurn, step=2)
    for i in range(80):  # a long turn: the reader must look back further than its first window
        add(ToolCallStarted, step=2, call_id=f"read{i}", tool="echo", arguments={})
    for call_id in ("a", "b"):
        add(ToolCallStarted, step=2, call_id=call_id, tool="publish", arguments={})
        add(ApprovalRequested, step=2, call_id=call_id, tool="publish", arguments={}, deadline=now + 60)
    add(ApprovalResolved, step=2, call_id="a", tool="publish", approved=True, reason="ok", decided_by="api")
    checkpoint = Checkpoint(step=2, seq=seq)  # a sibling's result: "a" no longer pending, "b" not yet listed
    add(ApprovalRequested, step=2, call_id="c", tool="publish", arguments={}, deadline=now + 90)
    await store.save_progress("research-t", events=events)

    log = await DurableApprover(store, Notifier()).turn_log("research-t", checkpoint)
    assert log.requested == {"a": now + 60, "b": now + 60, "c": now + 90}
    assert log.resolved == {"a": ApprovalDecision(True, "ok", "api")}
    assert (await DurableApprover(store, Notifier()).turn_log("research-t", None)).requested == {}
