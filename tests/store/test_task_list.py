"""The task listing of the store contract, on SQLite and on DynamoDB (moto): newest first, per owner or
all, by state, in pages that neither lose nor repeat a task; SQLite answers from an index, DynamoDB with
Queries on the agent's own partition keys."""

from __future__ import annotations

import sqlite3
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agent_runtime.store.base import ListPosition, Store, TaskRecord
from agent_runtime.store.dynamodb import DynamoStore, create_table
from agent_runtime.store.dynamodb import listing as dynamo_listing
from agent_runtime.store.sqlite import SQLiteStore
from agent_runtime.table_keys import leading_key_patterns


async def add(store: Store, n: int, *, agent: str = "research", owner: str | None = "alice",
              start: float = 1_000.0) -> list[str]:
    """Create `n` tasks one second apart; their ids, oldest first."""
    ids = []
    for i in range(n):
        task_id = f"{agent}-{owner}-{i:03d}"
        await store.create_task(TaskRecord(task_id=task_id, agent=agent, input=f"task {i}", owner=owner,
                                           created_at=start + i))
        ids.append(task_id)
    return ids


async def read_all(store: Store, agent: str = "research", **kw: Any) -> list[str]:
    """Every id the listing gives, page after page (failing on a page that repeats one)."""
    seen: list[str] = []
    after: ListPosition | None = None
    for _ in range(100):
        page = await store.list_tasks(agent, after=after, **kw)
        seen.extend(t.task_id for t in page.tasks)
        assert len(seen) == len(set(seen)), seen
        if page.next is None:
            return seen
        after = page.next
    raise AssertionError("the listing never ended")


async def test_newest_first_per_owner_and_for_all(store: Store) -> None:
    alice = await add(store, 5, owner="alice")
    bob = await add(store, 3, owner="bob", start=1_000.5)
    await add(store, 2, agent="content", owner="alice")
    page = await store.list_tasks("research", owner="alice", limit=20)
    assert [t.task_id for t in page.tasks] == alice[::-1] and page.next is None
    assert await read_all(store, owner="bob", limit=2) == bob[::-1]
    everyone = await read_all(store, owner=None, limit=3)
    assert sorted(everyone) == sorted(alice + bob)
    created = [(await store.get_task(t)).created_at for t in everyone]
    assert created == sorted(created, reverse=True)
    assert await read_all(store, owner="carol") == []


async def test_pages_neither_lose_nor_repeat_tasks_with_equal_creation_times(store: Store) -> None:
    ids = [f"research-same-{i}" for i in range(7)]
    for task_id in ids:
        await store.create_task(TaskRecord(task_id=task_id, agent="research", input="x", owner="alice",
                                           created_at=2_000.25))
    for limit in (1, 2, 3, 7, 8):
        assert await read_all(store, owner="alice", limit=limit) == sorted(ids, reverse=True)


async def test_state_filter(store: Store) -> None:
    ids = await add(store, 6)
    for task_id in ids[::2]:
        await store.request_cancel(task_id)
        await store.set_state(task_id, "running", from_states=("queued",))
    assert await read_all(store, owner="alice", state="running", limit=2) == ids[::2][::-1]
    assert await read_all(store, owner="alice", state="queued") == ids[1::2][::-1]
    assert await read_all(store, owner=None, state="succeeded") == []


async def test_last_page_says_so(store: Store) -> None:
    ids = await add(store, 4)
    first = await store.list_tasks("research", owner="alice", limit=2)
    assert first.next == ListPosition(1_002.0, ids[2])
    second = await store.list_tasks("research", owner="alice", limit=2, after=first.next)
    assert [t.task_id for t in second.tasks] == [ids[1], ids[0]]
    exact = await store.list_tasks("research", owner="alice", limit=4)
    assert len(exact.tasks) == 4 and exact.next is None


async def test_sqlite_lists_from_an_index(tmp_path: Any) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    try:
        await add(store, 3)
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "store.db")
    for owner_clause, params in (("AND owner = ?", ("research", "alice")), ("", ("research",))):
        plan = " ".join(str(row[3]) for row in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT task_id FROM tasks WHERE agent = ? {owner_clause} "
            "AND (created_at, task_id) < (?, ?) ORDER BY created_at DESC, task_id DESC LIMIT 5",
            (*params, 1e12, "~")))
        assert "INDEX tasks_by_" in plan and "TEMP B-TREE" not in plan, plan
    conn.close()


async def test_dynamodb_listing_is_a_query_on_the_agents_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call stays on partition keys the agent's role may reach (no Scan), and a state filter that
    matches little still stops after MAX_EXAMINED index items, handing back a cursor."""
    monkeypatch.setattr(dynamo_listing, "MAX_EXAMINED", 5)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "platform")
        store = DynamoStore("platform", client=client)
        ids = await add(store, 12)
        calls: list[tuple[str, list[str]]] = []

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            keys = [params["ExpressionAttributeValues"][":pk"]["S"]] if model.name == "Query" else [
                k["pk"]["S"] for t in params.get("RequestItems", {}).values() for k in t.get("Keys", [])]
            calls.append((model.name, keys))

        client.meta.events.register("provide-client-params.dynamodb.*", record)
        page = await store.list_tasks("research", owner="alice", state="succeeded", limit=3)
        assert page.tasks == [] and page.next is not None
        assert await read_all(store, owner="alice", state="queued", limit=3) == ids[::-1]
        await store.close()
    assert {name for name, _ in calls} == {"Query", "BatchGetItem"}
    prefixes = tuple(p.rstrip("*") for p in leading_key_patterns("research"))
    assert all(key.startswith(prefixes) for _, keys in calls for key in keys)
