"""Session memory in SQLite: the store's `load`/`append`, and a session-only memory for the CLI.

Both use the same tables (`SESSION_SCHEMA`) and the same trimming (`trim_session`), so a
session reads the same whichever of them wrote it. A session unused for `SESSION_RETENTION_S`
(no task submitted, nothing appended) is purged when a store opens the file, as DynamoDB's TTL
expires its items.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from agent_runtime.models.base import Message
from agent_runtime.store.base import MAX_SESSION_MESSAGES, SESSION_RETENTION_S, now, trim_session
from agent_runtime.store.encoding import dumps
from agent_runtime.store.sqlite.connection import SQLiteConnections
from agent_runtime.store.sqlite.schema import SESSION_SCHEMA


class SQLiteSessions(SQLiteConnections):
    """The loop's `Memory` protocol over the `session_messages` table."""

    async def load(self, session_id: str) -> list[Message]:
        """The session's latest messages (at most `MAX_SESSION_MESSAGES`), oldest first."""

        def read() -> list[Message]:
            rows = self._conn().execute(
                "SELECT message FROM (SELECT idx, message FROM session_messages WHERE session_id = ? "
                "ORDER BY idx DESC LIMIT ?) ORDER BY idx",
                (session_id, MAX_SESSION_MESSAGES + 1),
            ).fetchall()
            return trim_session([json.loads(r[0]) for r in rows])

        return await self._run(read)

    async def append(self, session_id: str, messages: list[Message]) -> None:
        """Add a finished task's messages after the session's last one."""

        def add(conn: sqlite3.Connection) -> None:
            (start,) = conn.execute(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM session_messages WHERE session_id = ?", (session_id,)
            ).fetchone()
            conn.executemany(
                "INSERT INTO session_messages (session_id, idx, message) VALUES (?,?,?)",
                [(session_id, start + i, dumps(m)) for i, m in enumerate(messages)],
            )
            conn.execute(
                "INSERT INTO sessions (session_id, updated_at) VALUES (?,?) "
                "ON CONFLICT (session_id) DO UPDATE SET updated_at = excluded.updated_at",
                (session_id, now()),
            )

        if messages:
            await self._run(self._write, add)

    def _purge_sessions(self, retention_s: float = SESSION_RETENTION_S) -> None:
        """Drop sessions (their order and memory) last used more than `retention_s` ago."""

        def purge(conn: sqlite3.Connection) -> None:
            old = [(r[0],) for r in conn.execute("SELECT session_id FROM sessions WHERE updated_at < ?",
                                                 (now() - retention_s,))]
            conn.executemany("DELETE FROM session_messages WHERE session_id = ?", old)
            conn.executemany("DELETE FROM sessions WHERE session_id = ?", old)

        self._write(purge)


class SQLiteSessionMemory(SQLiteSessions):
    """Session memory alone in a SQLite file (`run --session`): survives restarts of the CLI."""

    def __init__(self, path: str | Path, *, threads: int = 1) -> None:
        super().__init__(path, schema=SESSION_SCHEMA, threads=threads)
        self._purge_sessions()
