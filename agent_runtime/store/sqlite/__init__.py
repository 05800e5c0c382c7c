"""The store in one SQLite file (WAL mode): the local server's durable state.

Calls run on a small thread pool, one connection per thread, so the event loop does not wait
on disk; the exceptions are a task's writes (its creation, claim, lease, progress and end), run on
the loop's own thread when the write lock is free at once (a WAL commit without fsync costs less
than the hop to the pool; WAL checkpoints, which fsync, stay in the pool), and the reads by key that
every event stream and step make (a task, its events after a seq), which a WAL reader does without waiting. Conditional writes are `UPDATE ... WHERE <condition>` inside
`BEGIN IMMEDIATE` transactions; several processes may share the file.

One part per concern, joined here: tasks and leases (`tasks`), events and checkpoints
(`progress`), approvals (`approvals`), session memory (`sessions`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent_runtime.store.base import DEFAULT_RETENTION_S, IDEMPOTENCY_RETENTION_S, SESSION_RETENTION_S, now
from agent_runtime.store.sqlite.approvals import SQLiteApprovals
from agent_runtime.store.sqlite.progress import SQLiteProgress
from agent_runtime.store.sqlite.schema import LIST_INDEXES, STORE_SCHEMA, add_missing_columns
from agent_runtime.store.sqlite.sessions import SQLiteSessionMemory, SQLiteSessions
from agent_runtime.store.sqlite.tasks import SQLiteTasks

__all__ = ["SQLiteSessionMemory", "SQLiteStore"]


class SQLiteStore(SQLiteTasks, SQLiteProgress, SQLiteApprovals, SQLiteSessions):
    """`Store` over a SQLite file. Also serves as the loop's session `Memory`."""

    def __init__(
        self, path: str | Path, *, retention_s: float = DEFAULT_RETENTION_S,
        session_retention_s: float = SESSION_RETENTION_S, threads: int = 4,
    ) -> None:
        super().__init__(path, schema=STORE_SCHEMA, threads=threads)
        add_missing_columns(self._conn())
        self._conn().executescript(LIST_INDEXES)
        self.retention_s = retention_s
        self._purge_expired(self._conn())
        self._purge_sessions(session_retention_s)

    def _purge_expired(self, conn: sqlite3.Connection) -> None:
        """Drop ended tasks older than the retention, stale idempotency keys and quota counters of past
        days (DynamoDB's TTL, by hand)."""
        conn.execute("DELETE FROM quotas WHERE expires_at < ?", (now(),))
        cutoff = now() - self.retention_s
        old = [r[0] for r in conn.execute(
            "SELECT task_id FROM tasks WHERE updated_at < ? AND state IN ('succeeded','failed','cancelled')",
            (cutoff,),
        )]
        if not old:
            conn.execute("DELETE FROM idempotency WHERE created_at < ?", (now() - IDEMPOTENCY_RETENTION_S,))
            return

        def purge(c: sqlite3.Connection) -> None:
            for table in ("events", "messages", "approvals", "tasks"):
                c.executemany(f"DELETE FROM {table} WHERE task_id = ?", [(t,) for t in old])
            c.execute("DELETE FROM idempotency WHERE created_at < ?", (now() - IDEMPOTENCY_RETENTION_S,))

        self._write(purge)
