"""A task's event log and checkpoint in SQLite: each save writes only what is new."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from agent_runtime.checkpoint import Checkpoint
from agent_runtime.errors import ConflictError, NotFoundError
from agent_runtime.events import Event
from agent_runtime.store.base import StoredEvent, checkpoint_from_header, checkpoint_header, event_row, now
from agent_runtime.store.encoding import decode_messages, dumps, encode_messages, holds_input
from agent_runtime.store.sqlite.connection import SQLiteConnections
from agent_runtime.store.sqlite.schema import read_task


class SQLiteProgress(SQLiteConnections):
    """The events-and-checkpoints part of the `Store` protocol over SQLite."""

    async def save_progress(
        self, task_id: str, *, events: Sequence[Event] = (), checkpoint: Checkpoint | None = None,
        saved_messages: int = 0, owner: str | None = None,
    ) -> bool:
        rows = [event_row(e) for e in events]
        sets: list[str] = ["updated_at = ?"]
        params: list[Any] = [now()]
        if rows:
            sets.append("last_seq = MAX(last_seq, ?)")
            params.append(rows[-1].seq)
        if checkpoint is not None:
            header = checkpoint_header(checkpoint)
            sets += ["checkpoint = ?", "steps = ?", "usage = ?", "cost_usd = ?"]
            # The usage column from the header's usage: the model is dumped once per write, not twice.
            params += [dumps(header), checkpoint.step, dumps(header["usage"]), checkpoint.cost_usd]
        where, where_params = ("lease_owner = ?", [owner]) if owner else ("1 = 1", [])

        def save(conn: sqlite3.Connection) -> bool:
            updated = conn.execute(f"UPDATE tasks SET {', '.join(sets)} WHERE task_id = ? AND {where} "
                                   "RETURNING cancel_requested", (*params, task_id, *where_params)).fetchone()
            if updated is None:
                task = read_task(conn, task_id)
                raise ConflictError(f"task {task_id} is leased by {task.lease_owner}, not {owner}")
            if rows:
                conn.executemany("INSERT OR REPLACE INTO events (task_id, seq, type, data) VALUES (?,?,?,?)",
                                 [(task_id, r.seq, r.type, r.data) for r in rows])
            if checkpoint is not None and len(checkpoint.messages) > saved_messages:
                task_input = None  # read (once per task) to store the task message as a reference to it
                if holds_input(checkpoint, saved_messages):
                    task_input = conn.execute("SELECT input FROM tasks WHERE task_id = ?", (task_id,)).fetchone()[0]
                encoded = encode_messages(checkpoint, saved_messages, task_input)
                conn.executemany("INSERT OR REPLACE INTO messages (task_id, idx, message) VALUES (?,?,?)",
                                 [(task_id, saved_messages + i, m) for i, m in enumerate(encoded)])
            return bool(updated[0])

        return await self._write_soon(save)

    async def list_events(self, task_id: str, *, after: int = 0, limit: int = 500) -> list[StoredEvent]:
        def read(conn: sqlite3.Connection) -> list[StoredEvent]:
            rows = conn.execute(
                "SELECT seq, type, data FROM events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (task_id, after, limit),
            ).fetchall()
            return [StoredEvent(r[0], r[1], r[2]) for r in rows]

        return await self._read_soon(read)  # every event stream's read after each write: no hop

    async def last_seq(self, task_id: str) -> int:
        def read(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT MAX(seq) FROM events WHERE task_id = ?", (task_id,)).fetchone()
            return int(row[0] or 0)

        return await self._read_soon(read)

    async def load_checkpoint(self, task_id: str) -> Checkpoint | None:
        def read(conn: sqlite3.Connection) -> Checkpoint | None:
            row = conn.execute("SELECT checkpoint, input FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"task {task_id!r} not found")
            if row[0] is None:
                return None
            header = json.loads(row[0])
            msgs = conn.execute(
                "SELECT message FROM messages WHERE task_id = ? AND idx < ? ORDER BY idx", (task_id, header["count"])
            ).fetchall()
            return checkpoint_from_header(header, decode_messages([m[0] for m in msgs], row[1], task_id))

        return await self._read_soon(read)
