"""Session order in the store, SQLite and DynamoDB (moto) alike: a session's tasks take places in submit
order with one conditional write, and a task is claimed only after the one before it ended. Each test
uses two store objects over the same file or table, as two replicas would."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agent_runtime.errors import ConflictError, SessionBusyError
from agent_runtime.events import TaskCancelled, TaskFinished, Usage
from agent_runtime.store.base import Store, TaskRecord, request_hash, waiting_for
from agent_runtime.store.dynamodb import DynamoStore, create_table
from agent_runtime.store.sqlite import SQLiteStore


class AtomicCalls:
    """A DynamoDB client whose requests are atomic, as DynamoDB's are (moto's are not under threads):
    requests of concurrent callers still interleave, each one does not."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._together: threading.Barrier | None = None

    def race(self, submits: int) -> None:
        """The next `submits` reads of a session's place wait for each other: that many submits race for
        one place, every time."""
        self._together = threading.Barrier(submits)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                out = method(*args, **kwargs)
                racing = name == "get_item" and kwargs["Key"]["sk"]["S"] == "SESSION" and self._together
            if racing:
                with contextlib.suppress(threading.BrokenBarrierError):
                    self._together.wait(timeout=10)  # type: ignore[union-attr]
                self._together = None
            return out

        return call


@pytest.fixture(params=["sqlite", "dynamodb"])
async def stores(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores over one file or table (two replicas)."""
    if request.param == "sqlite":
        pair: tuple[Store, Store] = (SQLiteStore(tmp_path / "store.db"), SQLiteStore(tmp_path / "store.db"))
        yield pair
        for s in pair:
            await s.close()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "platform")
        atomic = AtomicCalls(client)
        pair = (DynamoStore("platform", client=atomic), DynamoStore("platform", client=atomic))
        yield pair
        for s in pair:
            await s.close()


def task(name: str, session: str | None = "s1", owner: str | None = "alice") -> TaskRecord:
    return TaskRecord(task_id=f"research-{name}", agent="research", input=name, session_id=session, owner=owner)


def finished(task_id: str, seq: int = 1) -> TaskFinished:
    return TaskFinished(task_id=task_id, seq=seq, ts=time.time(), steps=1, usage=Usage(), cost_usd=0.0,
                        stop_reason="final_answer", answer="ok")


async def test_a_session_s_tasks_take_places_in_submit_order(stores: tuple[Store, Store]) -> None:
    one, two = stores
    a, _ = await one.create_task(task("a"))
    b, _ = await two.create_task(task("b"))
    c, _ = await one.create_task(task("c"))
    assert [(t.session_seq, t.session_prev) for t in (a, b, c)] == [
        (1, None), (2, "research-a"), (3, "research-b")]
    stored = await two.get_task("research-c")
    assert (stored.session_seq, stored.session_prev) == (3, "research-b")
    # Other sessions, other principals' sessions of the same id, and tasks without one are not in line.
    other, _ = await two.create_task(task("d", session="s2"))
    bobs, _ = await two.create_task(task("e", owner="bob"))
    alone, _ = await one.create_task(task("f", session=None))
    assert [(t.session_seq, t.session_prev) for t in (other, bobs, alone)] == [(1, None), (1, None), (0, None)]


async def test_a_task_is_claimed_only_after_its_predecessor_ended(stores: tuple[Store, Store]) -> None:
    one, two = stores
    await one.create_task(task("a"))
    await two.create_task(task("b"))
    with pytest.raises(SessionBusyError) as busy:
        await two.claim_task("research-b", owner="w2", lease_s=60)
    assert busy.value.waiting_for == "research-a" and isinstance(busy.value, ConflictError)
    b = await one.get_task("research-b")
    assert b.state == "queued" and b.attempts == 0 and b.lease_owner is None  # the refusal changed nothing
    assert await waiting_for(one, b) == "research-a"
    await one.claim_task("research-a", owner="w1", lease_s=60)  # running: still in the way
    with pytest.raises(SessionBusyError):
        await two.claim_task("research-b", owner="w2", lease_s=60)
    assert await waiting_for(two, await two.get_task("research-b")) == "research-a"
    await one.finish_task("research-a", finished("research-a"), owner="w1")
    assert await waiting_for(two, await two.get_task("research-b")) is None
    claimed = await two.claim_task("research-b", owner="w2", lease_s=60)
    assert claimed.state == "running" and claimed.attempts == 1
    assert await waiting_for(two, claimed) is None  # running: waits for nobody


async def test_a_cancelled_predecessor_lets_the_next_task_run(stores: tuple[Store, Store]) -> None:
    one, two = stores
    await one.create_task(task("a"))
    await one.create_task(task("b"))
    await one.request_cancel("research-a")
    event = TaskCancelled(task_id="research-a", seq=1, ts=time.time(), steps=0, usage=Usage(), cost_usd=0.0,
                          stop_reason="cancelled", reason="cancelled before it started")
    await one.finish_task("research-a", event, from_states=("queued",))
    assert (await two.claim_task("research-b", owner="w", lease_s=60)).state == "running"


async def test_reject_refuses_a_submit_while_the_session_s_last_task_has_not_ended(
    stores: tuple[Store, Store],
) -> None:
    one, two = stores
    await one.create_task(task("a"), session_busy="reject")
    with pytest.raises(SessionBusyError) as busy:
        await two.create_task(task("b"), session_busy="reject")
    assert busy.value.waiting_for == "research-a"
    assert (await two.create_task(task("c", session="s2"), session_busy="reject"))[1]  # another session is free
    await one.claim_task("research-a", owner="w", lease_s=60)
    await one.finish_task("research-a", finished("research-a"), owner="w")
    b, created = await two.create_task(task("b"), session_busy="reject")
    assert created and (b.session_seq, b.session_prev) == (2, "research-a")


async def test_concurrent_submits_on_one_session_form_one_line(stores: tuple[Store, Store]) -> None:
    one, two = stores
    if isinstance(one, DynamoStore):
        one.client.race(4)
    made = await asyncio.gather(*(
        (one if i % 2 else two).create_task(task(f"t{i}")) for i in range(8)))
    line = sorted((t for t, _ in made), key=lambda t: t.session_seq)
    assert [t.session_seq for t in line] == list(range(1, 9))
    assert [t.session_prev for t in line] == [None] + [t.task_id for t in line[:-1]]
    for t in line:  # as stored, too
        stored = await one.get_task(t.task_id)
        assert (stored.session_seq, stored.session_prev) == (t.session_seq, t.session_prev)


async def test_an_idempotent_replay_takes_no_new_place(stores: tuple[Store, Store]) -> None:
    one, two = stores
    body = request_hash({"input": "a"})
    first, _ = await one.create_task(task("a"), idempotency_key="k", body_hash=body)
    again, created = await two.create_task(task("a2"), idempotency_key="k", body_hash=body)
    assert not created and again.task_id == first.task_id
    b, _ = await two.create_task(task("b"), idempotency_key="k2", body_hash=body)
    assert (b.session_seq, b.session_prev) == (2, "research-a")


async def test_a_session_s_order_and_its_memory_share_a_key_without_mixing(stores: tuple[Store, Store]) -> None:
    one, _ = stores
    t, _ = await one.create_task(task("a"))
    assert t.session_key == "research/alice/s1"
    await one.append("research/alice/s1", [{"role": "user", "content": "hi"}])
    await one.append("research/alice/s1", [{"role": "assistant", "content": "hello"}])
    await one.create_task(task("b"))
    assert [m["content"] for m in await one.load("research/alice/s1")] == ["hi", "hello"]
