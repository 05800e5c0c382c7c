"""Stored bytes: a task's input is stored once in full (the task record; the `task.started` event carries its
head, the checkpoint a reference) and JSON goes to the store as UTF-8, not `\\u` escapes. A 128 KB emoji input
submitted through the local platform grows the SQLite database by less than 2.5 times its UTF-8 size."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from agent_runtime.agents import AgentSpec
from agent_runtime.checkpoint import Checkpoint
from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from agent_runtime.store.base import Store, TaskRecord
from agent_runtime.store.dynamodb import DynamoStore
from agent_runtime.store.dynamodb.items import task_pk
from agent_runtime.store.encoding import INPUT_REF, dumps
from agent_runtime.store.sqlite import SQLiteStore
from agent_runtime.worker import AgentRuntime
from tests.api.support import ServerThread
from tests.fakes.scripted_model import ScriptedModel, final

API_KEY = "encoding-test-key-0123456789"
EMOJI_INPUT = "\U0001f600" * 32_000  # 128,000 bytes of UTF-8, the API's longest input (32,000 characters)
# The database may grow by this multiple of the input's UTF-8 size: one full copy plus the event's head,
# pages and indexes. Measured before: 770,048 bytes (6.0x: the input in the task record, in the event and,
# \\u-escaped to three times its size, in the checkpoint); after: 262,144 bytes (2.0x).
MAX_GROWTH = 2.5


def _db_size(path: Path) -> int:
    """The database file's size with its WAL folded in."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def _run(http: httpx.Client, text: str) -> dict[str, Any]:
    body = json.dumps({"input": text}, ensure_ascii=False).encode()
    r = http.post("/v1/agents/research/tasks", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 202, r.text
    task_id = r.json()["task_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        task = http.get(f"/v1/agents/research/tasks/{task_id}").json()
        if task["state"] == "succeeded":
            return dict(task)
        time.sleep(0.05)
    raise AssertionError("the task did not finish")


def test_a_128_kb_emoji_input_is_stored_once_as_utf8(tmp_path: Path) -> None:
    def runtime(spec: AgentSpec, settings: Settings) -> AgentRuntime:
        return AgentRuntime(spec, ScriptedModel([final("ok")]), {})

    settings = Settings(data_dir=tmp_path, api_keys=API_KEY, agent="research")
    platform = create_platform(settings, runtime_factory=runtime, heartbeat_s=0.3, poll_s=0.05)
    db = tmp_path / "platform.db"
    with ServerThread(platform.app) as api, httpx.Client(
        base_url=api.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=20,
    ) as http:
        _run(http, "warm-up: a tiny task first, so the growth counts only what the big input adds")
        before = _db_size(db)
        task = _run(http, EMOJI_INPUT)
        growth = _db_size(db) - before
        events = http.get(f"/v1/agents/research/tasks/{task['task_id']}/events", params={"format": "json"}).json()
    size = len(EMOJI_INPUT.encode())
    print(f"input {size} bytes (UTF-8); database grew by {growth} bytes ({growth / size:.2f}x)")
    assert task["input"] == EMOJI_INPUT  # GET task still returns the whole input
    started = events["events"][0]
    assert started["type"] == "task.started" and EMOJI_INPUT.startswith(started["input"][:100])
    assert growth < MAX_GROWTH * size, f"database grew by {growth} bytes for a {size}-byte input"



def _stored_messages(store: Store, task_id: str) -> list[str]:
    """The raw JSON text of the task's stored checkpoint messages."""
    if isinstance(store, SQLiteStore):
        rows = store._conn().execute("SELECT message FROM messages WHERE task_id = ? ORDER BY idx", (task_id,))
        return [r[0] for r in rows]
    assert isinstance(store, DynamoStore)
    out = store.client.query(TableName=store.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
                             ExpressionAttributeValues={":pk": {"S": task_pk(task_id)}, ":m": {"S": "MSG#"}})
    return [i["data"]["S"] for i in out["Items"]]


async def test_the_checkpoint_refers_to_the_input_and_resumes_with_it(store: Store) -> None:
    text = "Summarise \U0001f680 " * 100
    await store.create_task(TaskRecord(task_id="research-t1", agent="research", input=text))
    cp = Checkpoint(step=0, messages=[{"role": "system", "content": "be brief"},
                                      {"role": "user", "content": text}], pinned=1)
    await store.save_progress("research-t1", checkpoint=cp)
    cp.messages.append({"role": "assistant", "content": "\u00e9t\u00e9 \U0001f600"})
    await store.save_progress("research-t1", checkpoint=cp, saved_messages=2)
    raw = _stored_messages(store, "research-t1")
    assert INPUT_REF in json.loads(raw[1]) and text not in raw[1]  # one full copy: the task record's
    assert raw[2] == '{"role":"assistant","content":"\u00e9t\u00e9 \U0001f600"}'  # UTF-8, not \\u escapes
    loaded = await store.load_checkpoint("research-t1")
    assert loaded is not None and loaded.messages == cp.messages and loaded.pinned == 1


async def test_a_task_message_that_is_not_the_input_is_stored_whole(store: Store) -> None:
    await store.create_task(TaskRecord(task_id="research-t2", agent="research", input="the input"))
    cp = Checkpoint(messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "something else"}])
    await store.save_progress("research-t2", checkpoint=cp)
    assert json.loads(_stored_messages(store, "research-t2")[1]) == cp.messages[1]
    loaded = await store.load_checkpoint("research-t2")
    assert loaded is not None and loaded.messages == cp.messages


def test_json_is_written_as_utf8() -> None:
    assert dumps({"text": "\U0001f600 caf\u00e9"}) == '{"text":"\U0001f600 caf\u00e9"}'
