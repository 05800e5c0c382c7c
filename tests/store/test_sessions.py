"""Session memory in SQLite: the CLI's session-only memory and the task store share one table and one trim."""

from __future__ import annotations

from pathlib import Path

from agent_runtime.memory import Memory
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

