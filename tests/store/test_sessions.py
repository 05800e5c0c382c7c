"""Session memory in SQLite: the CLI's session-only memory and the task store share one table and one trim."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent_runtime.memory import Memory
from agent_runtime.store.base import TaskRecord
from agent_runtime.store.sqlite import SQLiteSessionMemory, SQLiteStore


async def test_sqlite_memory_survives_reopen(tmp_path: Path) -> None:
    mem = SQLiteSessionMemory(tmp_path / "m.db")
    await mem.append("s", [{"role": "user", "content": "a"}])
    await mem.append("s", [{"role": "assistant", "content": "b"}])
    await mem.close()
    again = SQLiteSessionMemory(tmp_path / "m.db")
    assert [m["content"] for m in await again.load("s")] == ["a", "b"]
    assert await again.load("other") == []
    await again.close()


async def test_session_memory_and_the_store_read_each_others_sessions(tmp_path: Path) -> None:
    mem = SQLiteSessionMemory(tmp_path / "m.db")
    assert isinstance(mem, Memory)
    await mem.append("s", [{"role": "user", "content": "a"}])
    store = SQLiteStore(tmp_path / "m.db")
    await store.append("s", [{"role": "assistant", "content": "b"}])
    assert [m["content"] for m in await mem.load("s")] == ["a", "b"]
    assert [m["content"] for m in await store.load("s")] == ["a", "b"]
    await store.close()
    await mem.close()



async def test_sessions_unused_past_their_retention_are_purged_on_open(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.db")
    for name in ("old", "new"):
        await store.create_task(TaskRecord(task_id=f"research-{name}", agent="research", input="x",
                                           session_id=name))
        await store.append(f"research/{name}", [{"role": "user", "content": name}])
    await store.close()
    with sqlite3.connect(tmp_path / "p.db") as conn:  # "old" was last used 91 days ago
        conn.execute("UPDATE sessions SET updated_at = updated_at - ? WHERE session_id = 'research/old'",
                     (91 * 86_400,))
    again = SQLiteStore(tmp_path / "p.db")
    assert await again.load("research/old") == []
    assert [m["content"] for m in await again.load("research/new")] == ["new"]
    # the purged session starts over: its next task is the first of a new line
    fresh, _ = await again.create_task(TaskRecord(task_id="research-old2", agent="research", input="x",
                                                  session_id="old"))
    assert (fresh.session_seq, fresh.session_prev) == (1, None)
    await again.close()
    memory = SQLiteSessionMemory(tmp_path / "p.db")  # the CLI's memory purges too
    assert [m["content"] for m in await memory.load("research/new")] == ["new"]
    await memory.close()
