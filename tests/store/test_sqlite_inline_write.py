"""A step's progress is written on the event loop's thread only when the write lock is free at once:
while another connection holds it, the write waits in the pool and the loop keeps running. Reads by key run
on the loop too, and see every commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from agent_runtime.checkpoint import Checkpoint
from agent_runtime.store.base import TaskRecord
from agent_runtime.store.sqlite import SQLiteStore


def test_progress_waits_in_the_pool_while_another_writer_holds_the_lock(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SQLiteStore(tmp_path / "s.db")
        try:
            await store.create_task(TaskRecord(task_id="t1", agent="research", input="hi"))
            other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            cp = Checkpoint(step=1, messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}])
            save = asyncio.create_task(store.save_progress("t1", checkpoint=cp))
            ticks = 0
            for _ in range(5):  # the loop is not blocked by the held lock
                await asyncio.sleep(0.01)
                ticks += 1
            assert ticks == 5 and not save.done()
            other.execute("COMMIT")
            other.close()
            assert await asyncio.wait_for(save, 10) is False
            loaded = await store.load_checkpoint("t1")
            assert loaded is not None and loaded.step == 1 and len(loaded.messages) == 2
            await store.save_progress("t1", checkpoint=Checkpoint(step=2, messages=cp.messages), saved_messages=2)
            assert (await store.get_task("t1")).steps == 2  # the lock free again: written at once
        finally:
            await store.close()

    asyncio.run(scenario())


def test_reads_by_key_on_the_loop_see_every_commit_and_wait_in_the_pool_when_busy(tmp_path: Path) -> None:
    """`get_task` and `list_events` read on the loop's thread: each read sees the latest commit of any
    connection (no snapshot is left open between reads); a busy file sends the read to the pool."""

    async def scenario() -> None:
        store = SQLiteStore(tmp_path / "s.db")
        try:
            await store.create_task(TaskRecord(task_id="t1", agent="research", input="hi"))
            assert (await store.get_task("t1")).steps == 0 and await store.list_events("t1") == []
            other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
            other.execute("UPDATE tasks SET steps = 3 WHERE task_id = 't1'")
            other.execute("INSERT INTO events (task_id, seq, type, data) VALUES ('t1', 1, 'x', '{}')")
            other.close()
            assert (await store.get_task("t1")).steps == 3
            assert [e.seq for e in await store.list_events("t1")] == [1]

            threads: list[str] = []

            def busy_once(conn: sqlite3.Connection) -> int:
                threads.append(threading.current_thread().name)
                if len(threads) == 1:
                    exc = sqlite3.OperationalError("database is locked")
                    exc.sqlite_errorcode = sqlite3.SQLITE_BUSY
                    raise exc
                return int(conn.execute("SELECT steps FROM tasks WHERE task_id = 't1'").fetchone()[0])

            assert await store._read_soon(busy_once) == 3
            assert threads[0] == threading.current_thread().name and threads[1].startswith("sqlite-store")
        finally:
            await store.close()

    asyncio.run(scenario())
