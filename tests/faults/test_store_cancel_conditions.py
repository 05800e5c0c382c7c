"""The store orders a cancel against a decision and against the task's end, in the same write, on SQLite
and on DynamoDB (moto): the conditional writes the cancel/approve race relies on."""

from __future__ import annotations

import time

import pytest

from agent_runtime.errors import ConflictError
from agent_runtime.events import TaskCancelled, Usage
from agent_runtime.store.base import ApprovalRecord, Store
from tests.store.conftest import store
from tests.store.test_store_contract import finished, task

__all__ = ["store"]  # the two-store fixture


async def _pending(store: Store) -> None:
    await store.create_task(task())
    await store.claim_task("research-t1", owner="w1", lease_s=60)
    await store.create_approval(ApprovalRecord(task_id="research-t1", call_id="c1", tool="publish_report",
                                               arguments={}, step=1, deadline=time.time() + 60))


async def test_a_decision_after_the_cancel_loses_and_the_withdrawal_still_counts(store: Store) -> None:
    await _pending(store)
    await store.request_cancel("research-t1")
    with pytest.raises(ConflictError, match="was cancelled"):
        await store.decide_approval("research-t1", "c1", approved=True, reason=None, decided_by="alice",
                                    unless_cancelled=True)
    record = await store.decide_approval("research-t1", "c1", approved=False, reason="cancelled",
                                         decided_by="cancel", enforce_deadline=False)
    assert (record.status, record.decided_by) == ("rejected", "cancel")


async def test_a_decision_before_the_cancel_stands(store: Store) -> None:
    await _pending(store)
    record = await store.decide_approval("research-t1", "c1", approved=True, reason=None, decided_by="alice",
                                         unless_cancelled=True)
    assert record.status == "approved"
    await store.request_cancel("research-t1")
    with pytest.raises(ConflictError, match="already approved by alice"):
        await store.decide_approval("research-t1", "c1", approved=False, reason=None, decided_by="bob",
                                    unless_cancelled=True)


async def test_an_end_conditional_on_no_cancel_loses_to_a_stored_cancel(store: Store) -> None:
    await _pending(store)
    await store.request_cancel("research-t1")
    with pytest.raises(ConflictError):
        await store.finish_task("research-t1", finished("research-t1", 1), owner="w1", unless_cancelled=True)
    cancelled = TaskCancelled(task_id="research-t1", seq=1, ts=time.time(), steps=2, usage=Usage(), cost_usd=0.0,
                              stop_reason="cancelled", reason="cancelled by request")
    ended = await store.finish_task("research-t1", cancelled, owner="w1")
    assert ended.state == "cancelled"
    with pytest.raises(ConflictError, match="already cancelled"):
        await store.request_cancel("research-t1")
