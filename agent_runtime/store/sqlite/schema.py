"""The SQLite schema and the conversions between its rows and the store's records."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from typing import Any

from agent_runtime.errors import NotFoundError
from agent_runtime.events import Usage
from agent_runtime.store.base import ApprovalRecord, TaskRecord

# Shared by the task store and the session-only memory, so both read each other's files. `sessions` holds
# each session's order (its last place and task) and when it was last used (sessions expire after that).
SESSION_SCHEMA = """
CREATE TABLE IF NOT EXISTS session_messages (
    session_id TEXT NOT NULL, idx INTEGER NOT NULL, message TEXT NOT NULL, PRIMARY KEY (session_id, idx)
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL DEFAULT 0, last_task TEXT, updated_at REAL NOT NULL
);
"""

STORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, agent TEXT NOT NULL, state TEXT NOT NULL, input TEXT NOT NULL,
    session_id TEXT, metadata TEXT NOT NULL, limits TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, started_at REAL, finished_at REAL,
    answer TEXT, error TEXT, stop_reason TEXT, steps INTEGER NOT NULL DEFAULT 0,
    usage TEXT NOT NULL DEFAULT '{}', cost_usd REAL NOT NULL DEFAULT 0, last_seq INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT, lease_until REAL NOT NULL DEFAULT 0, checkpoint TEXT, owner TEXT,
    session_seq INTEGER NOT NULL DEFAULT 0, session_prev TEXT, trace_context TEXT
);
CREATE INDEX IF NOT EXISTS tasks_active ON tasks (state, agent);
CREATE TABLE IF NOT EXISTS events (
    task_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    task_id TEXT NOT NULL, idx INTEGER NOT NULL, message TEXT NOT NULL, PRIMARY KEY (task_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS approvals (
    task_id TEXT NOT NULL, call_id TEXT NOT NULL, tool TEXT NOT NULL, arguments TEXT NOT NULL,
    step INTEGER NOT NULL, deadline REAL NOT NULL, requested_at REAL NOT NULL, status TEXT NOT NULL,
    reason TEXT, decided_by TEXT, decided_at REAL, PRIMARY KEY (task_id, call_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
    scope_key TEXT PRIMARY KEY, task_id TEXT NOT NULL, body_hash TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS quotas (
    scope_key TEXT PRIMARY KEY, used INTEGER NOT NULL, expires_at REAL NOT NULL
);
""" + SESSION_SCHEMA

# The task listing's indexes (newest first per agent, and per agent and owner). Created after
# `add_missing_columns`, since files from before principals have no `owner` column until then.
LIST_INDEXES = """
CREATE INDEX IF NOT EXISTS tasks_by_agent ON tasks (agent, created_at, task_id);
CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (agent, owner, created_at, task_id);
"""

TASK_COLUMNS = (
    "task_id, agent, state, input, session_id, metadata, limits, created_at, updated_at, started_at, "
    "finished_at, answer, error, stop_reason, steps, usage, cost_usd, last_seq, cancel_requested, attempts, "
    "lease_owner, lease_until, owner, session_seq, session_prev, trace_context"
)

# Columns added after the first release, for files created before them: (table, column, declaration).
ADDED_COLUMNS = (
    ("tasks", "owner", "TEXT"),
    ("tasks", "session_seq", "INTEGER NOT NULL DEFAULT 0"),
    ("tasks", "session_prev", "TEXT"),
    ("tasks", "trace_context", "TEXT"),
)


def add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a file created by an older version up to the schema (`ADDED_COLUMNS`)."""
    for table, column, declaration in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def task_from_row(row: sqlite3.Row) -> TaskRecord:
    """A `TaskRecord` from a row selected with `TASK_COLUMNS`."""
    return TaskRecord(
        task_id=row["task_id"], agent=row["agent"], input=row["input"], state=row["state"],
        session_id=row["session_id"], metadata=json.loads(row["metadata"]), limits=json.loads(row["limits"]),
        created_at=row["created_at"], updated_at=row["updated_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], answer=row["answer"], error=row["error"], stop_reason=row["stop_reason"],
        steps=row["steps"], usage=Usage.model_validate_json(row["usage"]), cost_usd=row["cost_usd"],
        last_seq=row["last_seq"], cancel_requested=bool(row["cancel_requested"]), attempts=row["attempts"],
        lease_owner=row["lease_owner"], lease_until=row["lease_until"], owner=row["owner"],
        session_seq=row["session_seq"], session_prev=row["session_prev"], trace_context=row["trace_context"],
    )


def read_task(conn: sqlite3.Connection, task_id: str) -> TaskRecord:
    """The task as `conn` sees it (inside its transaction, if any), or `NotFoundError`."""
    row = conn.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"task {task_id!r} not found")
    return task_from_row(row)


def approval_from_row(row: sqlite3.Row) -> ApprovalRecord:
    """An `ApprovalRecord` from a row of the approvals table."""
    return ApprovalRecord(
        task_id=row["task_id"], call_id=row["call_id"], tool=row["tool"], arguments=json.loads(row["arguments"]),
        step=row["step"], deadline=row["deadline"], requested_at=row["requested_at"], status=row["status"],
        reason=row["reason"], decided_by=row["decided_by"], decided_at=row["decided_at"],
    )


def marks(values: Collection[Any]) -> str:
    """As many `?` placeholders as values, for an `IN (...)` list."""
    return ",".join("?" * len(values))
