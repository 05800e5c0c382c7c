"""The store contract, run against SQLite and against DynamoDB (moto): same tests, same answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from agent_runtime.checkpoint import Checkpoint
from agent_runtime.errors import ConflictError, NotFoundError
from agent_runtime.events import ModelTurn, TaskCancelled, TaskFinished, TaskStarted, Usage
from agent_runtime.models.base import Message
from agent_runtime.quotas import QuotaCharge, QuotaExceededError
from agent_runtime.store.base import MAX_SESSION_MESSAGES, ApprovalRecord, Store, TaskRecord, request_hash


def task(task_id: str = "research-t1", agent: str = "research", **kw: Any) -> TaskRecord:
    return TaskRecord(task_id=task_id, agent=agent, input="what is asyncio?", **kw)


def started(task_id: str, seq: int) -> TaskStarted:
    return TaskStarted(task_id=task_id, seq=seq, ts=time.time(), agent="research", input="x", model="m")


def turn(task_id: str, seq: int, step: int = 1) -> ModelTurn:
    return ModelTurn(task_id=task_id, seq=seq, ts=time.time(), step=step, thought=f"thinking {seq}")


def finished(task_id: str, seq: int, answer: str = "42") -> TaskFinished:
    return TaskFinished(task_id=task_id, seq=seq, ts=time.time(), steps=2, usage=Usage(prompt_tokens=7,
                        completion_tokens=3), cost_usd=0.5, stop_reason="final_answer", answer=answer)


async def test_create_and_read_back_a_task(store: Store) -> None:
    created, fresh = await store.create_task(task(session_id="s1", metadata={"team": "docs"}, limits={"max_steps": 3}))
    assert fresh and created.state == "queued"
    got = await store.get_task("research-t1")
    assert (got.agent, got.input, got.session_id, got.metadata, got.limits) == (
        "research", "what is asyncio?", "s1", {"team": "docs"}, {"max_steps": 3})
    assert got.created_at > 0 and got.attempts == 0 and not got.cancel_requested
    with pytest.raises(NotFoundError):
        await store.get_task("nope")
    with pytest.raises(ConflictError):
        await store.create_task(task())


async def test_idempotency_key_returns_the_same_task_or_conflicts(store: Store) -> None:
    body = request_hash({"input": "x"})
    first, created = await store.create_task(task("research-a"), idempotency_key="k1", body_hash=body)
    again, created_again = await store.create_task(task("research-b"), idempotency_key="k1", body_hash=body)
    assert created and not created_again and again.task_id == "research-a"
    with pytest.raises(NotFoundError):
        await store.get_task("research-b")  # the retry created nothing
    with pytest.raises(ConflictError, match="different request body"):
        await store.create_task(task("research-c"), idempotency_key="k1", body_hash=request_hash({"input": "y"}))
    # keys are per agent
    other, created_other = await store.create_task(task("content-d", agent="content"), idempotency_key="k1",
                                                   body_hash=body)
    assert created_other and other.task_id == "content-d"


async def test_claim_lease_and_state_transitions(store: Store) -> None:
    await store.create_task(task())
    claimed = await store.claim_task("research-t1", owner="w1", lease_s=60)
    assert claimed.state == "running" and claimed.attempts == 1 and claimed.lease_owner == "w1"
    assert claimed.started_at is not None
    with pytest.raises(ConflictError, match="being run by w1"):
        await store.claim_task("research-t1", owner="w2", lease_s=60)
    waiting = await store.set_state("research-t1", "waiting_approval", from_states=("running",))
    assert waiting.state == "waiting_approval"
    with pytest.raises(ConflictError):
        await store.set_state("research-t1", "waiting_approval", from_states=("running",))
    await store.renew_lease("research-t1", owner="w1", lease_s=0.01)
    with pytest.raises(ConflictError, match="lease"):
        await store.renew_lease("research-t1", owner="w2", lease_s=60)
    await asyncio.sleep(0.02)
    taken = await store.claim_task("research-t1", owner="w2", lease_s=60)  # w1's lease lapsed
    assert taken.lease_owner == "w2" and taken.attempts == 2 and taken.state == "running"
    await store.release_lease("research-t1", owner="w2", refund_attempt=True)
    released = await store.get_task("research-t1")
    assert released.lease_owner is None and released.attempts == 1


async def test_finish_settles_the_task_and_appends_the_terminal_event_once(store: Store) -> None:
    await store.create_task(task())
    await store.claim_task("research-t1", owner="w1", lease_s=60)
    await store.save_progress("research-t1", events=[started("research-t1", 1), turn("research-t1", 2)], owner="w1")
    with pytest.raises(ConflictError):
        await store.finish_task("research-t1", finished("research-t1", 3), owner="intruder")
    done = await store.finish_task("research-t1", finished("research-t1", 3), owner="w1")
    assert (done.state, done.answer, done.steps, done.cost_usd, done.last_seq) == ("succeeded", "42", 2, 0.5, 3)
    assert done.usage.total_tokens == 10 and done.finished_at is not None and done.lease_owner is None
    with pytest.raises(ConflictError):
        await store.finish_task("research-t1", finished("research-t1", 4))
    with pytest.raises(ConflictError):
        await store.request_cancel("research-t1")
    with pytest.raises(ConflictError):
        await store.claim_task("research-t1", owner="w1", lease_s=60)
    assert [e.seq for e in await store.list_events("research-t1")] == [1, 2, 3]


async def test_a_progress_write_tells_the_cancel_flag_and_refuses_a_worker_without_the_lease(store: Store) -> None:
    """The loop learns of a cancel from its own checkpoint write (no read of its own); the write is
    stored all the same; a worker whose lease was taken over writes nothing."""
    await store.create_task(task())
    await store.claim_task("research-t1", owner="w1", lease_s=60)
    cp = Checkpoint(step=1, messages=[{"role": "user", "content": "q"}], seq=1, pinned=0)
    assert await store.save_progress("research-t1", events=[started("research-t1", 1)], checkpoint=cp,
                                     owner="w1") is False
    await store.request_cancel("research-t1")
    cp2 = Checkpoint(step=2, messages=[*cp.messages, {"role": "assistant", "content": "a"}], seq=2, pinned=0)
    assert await store.save_progress("research-t1", events=[turn("research-t1", 2)], checkpoint=cp2,
                                     saved_messages=1, owner="w1") is True
    stored = await store.get_task("research-t1")
    assert stored.steps == 2 and stored.last_seq == 2 and stored.cancel_requested
    assert [e.seq for e in await store.list_events("research-t1")] == [1, 2]
    loaded = await store.load_checkpoint("research-t1")
    assert loaded is not None and len(loaded.messages) == 2
    with pytest.raises(ConflictError, match="w1"):
        await store.save_progress("research-t1", events=[turn("research-t1", 3, step=3)], owner="w2")
    assert [e.seq for e in await store.list_events("research-t1")] == [1, 2]


async def test_cancel_a_queued_task(store: Store) -> None:
    await store.create_task(task())
    flagged = await store.request_cancel("research-t1")
    assert flagged.cancel_requested and flagged.state == "queued"
    event = TaskCancelled(task_id="research-t1", seq=1, ts=time.time(), steps=0, usage=Usage(), cost_usd=0,
                          stop_reason="cancelled", reason="cancelled before it started")
    done = await store.finish_task("research-t1", event, from_states=("queued",))
    assert done.state == "cancelled" and done.error == "cancelled before it started"


async def test_events_are_listed_by_seq_after_a_cursor(store: Store) -> None:
    await store.create_task(task())
    await store.save_progress("research-t1", events=[started("research-t1", 1)] + [turn("research-t1", i) for i in range(2, 31)])
    assert await store.last_seq("research-t1") == 30
    after = await store.list_events("research-t1", after=27)
    assert [e.seq for e in after] == [28, 29, 30] and after[0].type == "model.turn"
    assert '"thought":"thinking 28"' in after[0].data
    page = await store.list_events("research-t1", after=0, limit=10)
    assert [e.seq for e in page] == list(range(1, 11))
    assert (await store.get_task("research-t1")).last_seq == 30
    assert await store.last_seq("other") == 0


async def test_checkpoints_store_only_new_messages_and_load_whole(store: Store) -> None:
    await store.create_task(task())
    assert await store.load_checkpoint("research-t1") is None
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"}]
    cp = Checkpoint(step=0, messages=msgs, seq=1, pinned=1)
    await store.save_progress("research-t1", checkpoint=cp, saved_messages=0)
    msgs.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "echo", "arguments": "{}"}}]})
    cp.step, cp.seq, cp.usage, cp.cost_usd = 1, 3, Usage(prompt_tokens=10, completion_tokens=5), 0.25
    cp.pending_approvals = {"c1": 1234.5}
    await store.save_progress("research-t1", checkpoint=cp, saved_messages=2)
    loaded = await store.load_checkpoint("research-t1")
    assert loaded is not None
    assert loaded.messages == msgs and loaded.step == 1 and loaded.seq == 3 and loaded.pinned == 1
    assert loaded.usage.total_tokens == 15 and loaded.cost_usd == 0.25 and loaded.pending_approvals == {"c1": 1234.5}
    progress = await store.get_task("research-t1")
    assert progress.steps == 1 and progress.usage.total_tokens == 15
    with pytest.raises(ConflictError):
        await store.save_progress("research-t1", checkpoint=cp, saved_messages=3, owner="not-the-owner")


async def test_approvals_decide_once_and_before_the_deadline(store: Store) -> None:
    await store.create_task(task())
    a = ApprovalRecord(task_id="research-t1", call_id="c1", tool="publish_report", arguments={"title": "x"}, step=1,
                       deadline=time.time() + 60, requested_at=time.time())
    created = await store.create_approval(a)
    assert created.status == "pending" and created.arguments == {"title": "x"}
    again = await store.create_approval(ApprovalRecord(**{**a.__dict__, "deadline": a.deadline + 999}))
    assert again.deadline == pytest.approx(a.deadline)  # the first deadline survives a restart
    assert [p.call_id for p in await store.list_approvals("research-t1", pending_only=True)] == ["c1"]
    decided = await store.decide_approval("research-t1", "c1", approved=True, reason="fine", decided_by="api")
    assert decided.approved and decided.decided_by == "api" and decided.decided_at is not None
    with pytest.raises(ConflictError, match="already approved"):
        await store.decide_approval("research-t1", "c1", approved=False, reason=None, decided_by="api")
    assert await store.list_approvals("research-t1", pending_only=True) == []
    assert (await store.create_approval(a)).status == "approved"

    late = ApprovalRecord(task_id="research-t1", call_id="c2", tool="publish_report", arguments={}, step=2,
                          deadline=time.time() - 1)
    await store.create_approval(late)
    with pytest.raises(ConflictError, match="deadline"):
        await store.decide_approval("research-t1", "c2", approved=True, reason=None, decided_by="api")
    by_policy = await store.decide_approval("research-t1", "c2", approved=False, reason="timeout", decided_by="timeout",
                                            enforce_deadline=False)
    assert by_policy.status == "rejected" and by_policy.decided_by == "timeout"
    with pytest.raises(NotFoundError):
        await store.decide_approval("research-t1", "zzz", approved=True, reason=None, decided_by="api")


async def test_active_tasks_lists_unfinished_tasks_of_given_agents(store: Store) -> None:
    await store.create_task(task("research-a"))
    await store.create_task(task("research-b"))
    await store.create_task(task("content-c", agent="content"))
    await store.claim_task("research-b", owner="w", lease_s=60)
    await store.claim_task("research-a", owner="w", lease_s=60)
    await store.finish_task("research-a", finished("research-a", 1))
    assert [t.task_id for t in await store.active_tasks(["research"])] == ["research-b"]
    assert sorted(t.task_id for t in await store.active_tasks(["research", "content"])) == ["content-c", "research-b"]


async def test_session_memory_appends_in_order(store: Store) -> None:
    assert await store.load("s") == []
    await store.append("s", [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    await store.append("s", [{"role": "user", "content": "c"}])
    assert [m["content"] for m in await store.load("s")] == ["a", "b", "c"]
    assert await store.load("other") == []


async def test_a_long_session_loads_its_latest_messages_from_a_user_message(store: Store) -> None:
    turn: list[Message] = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                           {"role": "tool", "tool_call_id": "c", "content": "r"}]
    await store.append("s", turn * (MAX_SESSION_MESSAGES // len(turn) + 1))
    history = await store.load("s")
    assert history[0]["role"] == "user" and len(history) == MAX_SESSION_MESSAGES - 1


def charge(nbytes: int, principal: str = "alice", day: str = "2026-12-01", limit: int = 100) -> QuotaCharge:
    return QuotaCharge(agent="research", principal=principal, day=day, nbytes=nbytes, limit=limit)


async def test_quota_counts_a_principals_bytes_per_day_and_refuses_past_the_limit(store: Store) -> None:
    body = request_hash({"input": "x"})
    assert (await store.create_task(task("research-q1"), quota=charge(40), idempotency_key="k",
                                    body_hash=body))[1]
    assert (await store.create_task(task("research-q2"), quota=charge(40)))[1]
    with pytest.raises(QuotaExceededError) as refused:
        await store.create_task(task("research-q3"), quota=charge(40))
    assert (refused.value.used, refused.value.charge.limit) == (80, 100)
    with pytest.raises(NotFoundError):
        await store.get_task("research-q3")  # a refused submit creates nothing
    # a replay of the first task's Idempotency-Key returns it and charges nothing ...
    replayed, created = await store.create_task(task("research-q4"), quota=charge(40), idempotency_key="k",
                                                body_hash=body)
    assert (replayed.task_id, created) == ("research-q1", False)
    # ... so exactly the 20 bytes left still fit, and then not one more
    assert (await store.create_task(task("research-q5"), quota=charge(20)))[1]
    with pytest.raises(QuotaExceededError) as full:
        await store.create_task(task("research-q6"), quota=charge(1))
    assert full.value.used == 100
    # other principals and other days have counters of their own; one task over the limit never fits
    assert (await store.create_task(task("research-q7"), quota=charge(100, principal="bob")))[1]
    assert (await store.create_task(task("research-q8"), quota=charge(100, day="2026-12-02")))[1]
    with pytest.raises(QuotaExceededError):
        await store.create_task(task("research-q9"), quota=charge(101, principal="carol"))
