"""Approvals of sensitive tool calls in SQLite: created once, decided once."""

from __future__ import annotations

import sqlite3

from agent_runtime.errors import ConflictError, NotFoundError
from agent_runtime.store.base import ApprovalRecord, cancelled_conflict, decide_conflict, now
from agent_runtime.store.encoding import dumps
from agent_runtime.store.sqlite.connection import SQLiteConnections
from agent_runtime.store.sqlite.schema import approval_from_row


def _read_approval(conn: sqlite3.Connection, task_id: str, call_id: str) -> ApprovalRecord:
    row = conn.execute("SELECT * FROM approvals WHERE task_id = ? AND call_id = ?", (task_id, call_id)).fetchone()
    if row is None:
        raise NotFoundError(f"no approval {call_id!r} for task {task_id!r}")
    return approval_from_row(row)


class SQLiteApprovals(SQLiteConnections):
    """The approvals part of the `Store` protocol over SQLite."""

    async def create_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        a = approval

        def create(conn: sqlite3.Connection) -> ApprovalRecord:
            conn.execute(
                "INSERT OR IGNORE INTO approvals (task_id, call_id, tool, arguments, step, deadline, requested_at, "
                "status) VALUES (?,?,?,?,?,?,?, 'pending')",
                (a.task_id, a.call_id, a.tool, dumps(a.arguments), a.step, a.deadline, a.requested_at or now()),
            )
            return _read_approval(conn, a.task_id, a.call_id)

        return await self._run(self._write, create)

    async def get_approval(self, task_id: str, call_id: str) -> ApprovalRecord:
        return await self._run(lambda: _read_approval(self._conn(), task_id, call_id))

    async def list_approvals(self, task_id: str, *, pending_only: bool = False) -> list[ApprovalRecord]:
        def read() -> list[ApprovalRecord]:
            sql = "SELECT * FROM approvals WHERE task_id = ?" + (" AND status = 'pending'" if pending_only else "")
            rows = self._conn().execute(sql + " ORDER BY requested_at, call_id", (task_id,)).fetchall()
            return [approval_from_row(r) for r in rows]

        return await self._run(read)

    async def decide_approval(
        self, task_id: str, call_id: str, *, approved: bool, reason: str | None, decided_by: str,
        enforce_deadline: bool = True, unless_cancelled: bool = False,
    ) -> ApprovalRecord:
        def decide(conn: sqlite3.Connection) -> ApprovalRecord:
            t = now()
            cur = conn.execute(
                "UPDATE approvals SET status = ?, reason = ?, decided_by = ?, decided_at = ? "
                "WHERE task_id = ? AND call_id = ? AND status = 'pending' AND (? OR deadline >= ?) "
                "AND NOT (? AND EXISTS (SELECT 1 FROM tasks WHERE task_id = ? AND cancel_requested = 1))",
                ("approved" if approved else "rejected", reason, decided_by, t, task_id, call_id,
                 0 if enforce_deadline else 1, t, 1 if unless_cancelled else 0, task_id),
            )
            record = _read_approval(conn, task_id, call_id)
            if cur.rowcount == 0:
                if record.status == "pending" and unless_cancelled:
                    raise ConflictError(cancelled_conflict(task_id))
                raise ConflictError(decide_conflict(record))
            return record

        return await self._run(self._write, decide)
