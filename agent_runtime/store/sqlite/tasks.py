"""Tasks and their leases in SQLite: conditional `UPDATE ... WHERE` writes, idempotent creation."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Sequence
from typing import Any

from agent_runtime.errors import ConflictError, NotFoundError
from agent_runtime.events import TerminalEvent
from agent_runtime.quotas import QUOTA_RETENTION_S, QuotaCharge, QuotaExceededError
from agent_runtime.store.base import (
    ACTIVE_STATES,
    IDEMPOTENCY_RETENTION_S,
    ListPosition,
    SessionBusyPolicy,
    TaskPage,
    TaskRecord,
    TaskState,
    busy_session_error,
    claim_conflict,
    event_row,
    list_position,
    now,
    terminal_fields,
)
from agent_runtime.store.encoding import dumps
from agent_runtime.store.sqlite.connection import SQLiteConnections
from agent_runtime.store.sqlite.schema import TASK_COLUMNS, marks, read_task, task_from_row


def _unfinished(conn: sqlite3.Connection, task_id: str | None) -> TaskRecord | None:
    """The task if it exists and has not ended (a purged task ended long ago)."""
    if task_id is None:
        return None
    try:
        task = read_task(conn, task_id)
    except NotFoundError:
        return None
    return None if task.terminal else task


def _take_session_place(conn: sqlite3.Connection, task: TaskRecord, busy: SessionBusyPolicy) -> None:
    """Give a task with a session the session's next place, after its last task (in the caller's
    transaction, which holds the file's write lock); with `busy="reject"`, refuse while that one runs."""
    key = task.session_key
    if key is None:
        return
    row = conn.execute("SELECT last_seq, last_task FROM sessions WHERE session_id = ?", (key,)).fetchone()
    last_seq, last_task = (row["last_seq"], row["last_task"]) if row is not None else (0, None)
    prev = _unfinished(conn, last_task)
    if busy == "reject" and prev is not None:
        raise busy_session_error(prev)
    task.session_seq, task.session_prev = last_seq + 1, last_task
    conn.execute(
        "INSERT INTO sessions (session_id, last_seq, last_task, updated_at) VALUES (?,?,?,?) "
        "ON CONFLICT (session_id) DO UPDATE SET last_seq = excluded.last_seq, last_task = excluded.last_task, "
        "updated_at = excluded.updated_at",
        (key, task.session_seq, task.task_id, task.updated_at),
    )


def _charge_quota(conn: sqlite3.Connection, quota: QuotaCharge | None) -> None:
    """Add the task's bytes to its principal's counter of the day, in the caller's transaction (which
    holds the file's write lock); `QuotaExceededError` if they do not fit (the transaction rolls back)."""
    if quota is None:
        return
    row = conn.execute("SELECT used FROM quotas WHERE scope_key = ?", (quota.key,)).fetchone()
    used = int(row["used"]) if row is not None else 0
    if not quota.fits(used):
        raise QuotaExceededError(quota, used)
    conn.execute(
        "INSERT INTO quotas (scope_key, used, expires_at) VALUES (?,?,?) ON CONFLICT (scope_key) DO UPDATE "
        "SET used = used + excluded.used, expires_at = excluded.expires_at",
        (quota.key, quota.nbytes, now() + QUOTA_RETENTION_S),
    )


class SQLiteTasks(SQLiteConnections):
    """The task half of the `Store` protocol over SQLite."""

    async def create_task(
        self, task: TaskRecord, *, idempotency_key: str | None = None, body_hash: str | None = None,
        session_busy: SessionBusyPolicy = "queue", quota: QuotaCharge | None = None,
    ) -> tuple[TaskRecord, bool]:
        def create(conn: sqlite3.Connection) -> tuple[TaskRecord, bool]:
            if idempotency_key is not None:
                scope = f"{task.agent}#{idempotency_key}"
                row = conn.execute(
                    "SELECT task_id, body_hash FROM idempotency WHERE scope_key = ? AND created_at >= ?",
                    (scope, now() - IDEMPOTENCY_RETENTION_S),
                ).fetchone()
                if row is not None:
                    if row["body_hash"] != body_hash:
                        raise ConflictError("the Idempotency-Key was already used with a different request body")
                    return read_task(conn, row["task_id"]), False
                conn.execute(
                    "INSERT OR REPLACE INTO idempotency (scope_key, task_id, body_hash, created_at) VALUES (?,?,?,?)",
                    (scope, task.task_id, body_hash or "", now()),
                )
            t = now()
            task.created_at = task.created_at or t
            task.updated_at = t
            _charge_quota(conn, quota)
            _take_session_place(conn, task, session_busy)
            conn.execute(
                "INSERT INTO tasks (task_id, agent, state, input, session_id, metadata, limits, created_at, "
                "updated_at, usage, owner, session_seq, session_prev, trace_context) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (task.task_id, task.agent, task.state, task.input, task.session_id, dumps(task.metadata),
                 dumps(task.limits), task.created_at, task.updated_at, task.usage.model_dump_json(),
                 task.owner, task.session_seq, task.session_prev, task.trace_context),
            )
            return task, True

        try:
            return await self._write_soon(create)
        except sqlite3.IntegrityError:
            raise ConflictError(f"task {task.task_id!r} already exists") from None

    async def get_task(self, task_id: str) -> TaskRecord:
        return await self._read_soon(lambda conn: read_task(conn, task_id))

    @staticmethod
    def _conditional(
        task_id: str, sets: str, params: Sequence[Any], where: str, where_params: Sequence[Any],
        explain: Callable[[TaskRecord], str],
    ) -> Callable[[sqlite3.Connection], TaskRecord]:
        """A write that updates the task if `where` holds; otherwise `ConflictError` with `explain(task)`."""

        def update(conn: sqlite3.Connection) -> TaskRecord:
            cur = conn.execute(
                f"UPDATE tasks SET {sets}, updated_at = ? WHERE task_id = ? AND ({where})",
                (*params, now(), task_id, *where_params),
            )
            task = read_task(conn, task_id)  # NotFoundError when missing
            if cur.rowcount == 0:
                raise ConflictError(explain(task))
            return task

        return update

    async def claim_task(self, task_id: str, *, owner: str, lease_s: float) -> TaskRecord:
        t = now()

        def claim(conn: sqlite3.Connection) -> TaskRecord:
            task = read_task(conn, task_id)
            prev = _unfinished(conn, task.session_prev)
            if prev is not None and not task.terminal:  # its session's earlier task runs first
                raise busy_session_error(prev)
            cur = conn.execute(
                "UPDATE tasks SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?, "
                "started_at = COALESCE(started_at, ?), updated_at = ? WHERE task_id = ? "
                f"AND state IN ({marks(ACTIVE_STATES)}) AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
                (owner, t + lease_s, t, t, task_id, *sorted(ACTIVE_STATES), owner, t),
            )
            if cur.rowcount == 0:
                raise ConflictError(claim_conflict(task))
            return read_task(conn, task_id)

        return await self._write_soon(claim)

    async def renew_lease(self, task_id: str, *, owner: str, lease_s: float) -> TaskRecord:
        return await self._write_soon(self._conditional(
            task_id, "lease_until = ?", (now() + lease_s,),
            f"lease_owner = ? AND state IN ({marks(ACTIVE_STATES)})", (owner, *sorted(ACTIVE_STATES)),
            lambda task: f"lease on task {task_id} lost (state {task.state}, owner {task.lease_owner})",
        ))

    async def release_lease(self, task_id: str, *, owner: str, refund_attempt: bool = False) -> None:
        def release(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tasks SET lease_owner = NULL, lease_until = 0, attempts = MAX(0, attempts - ?) "
                "WHERE task_id = ? AND lease_owner = ?",
                (1 if refund_attempt else 0, task_id, owner),
            )

        await self._write_soon(release)

    async def set_state(self, task_id: str, state: TaskState, *, from_states: Collection[str]) -> TaskRecord:
        states = sorted(from_states)
        return await self._write_soon(self._conditional(
            task_id, "state = ?", (state,), f"state IN ({marks(states)})", states,
            lambda task: f"task {task_id} is {task.state}, not {' or '.join(states)}",
        ))

    async def request_cancel(self, task_id: str) -> TaskRecord:
        return await self._write_soon(self._conditional(
            task_id, "cancel_requested = 1", (),
            f"state IN ({marks(ACTIVE_STATES)})", sorted(ACTIVE_STATES),
            lambda task: f"task {task_id} already {task.state}",
        ))

    async def finish_task(
        self, task_id: str, event: TerminalEvent, *, owner: str | None = None,
        from_states: Collection[str] = ACTIVE_STATES, unless_cancelled: bool = False,
    ) -> TaskRecord:
        f = terminal_fields(event)
        row = event_row(event)
        states = sorted(from_states)
        where = f"state IN ({marks(states)})" + (" AND lease_owner = ?" if owner else "")
        where += " AND cancel_requested = 0" if unless_cancelled else ""
        where_params = [*states, *([owner] if owner else [])]

        def finish(conn: sqlite3.Connection) -> TaskRecord:
            cur = conn.execute(
                f"UPDATE tasks SET state = ?, answer = ?, error = ?, stop_reason = ?, steps = ?, usage = ?, "
                f"cost_usd = ?, last_seq = ?, finished_at = ?, updated_at = ?, lease_owner = NULL, lease_until = 0 "
                f"WHERE task_id = ? AND ({where})",
                (f["state"], f["answer"], f["error"], f["stop_reason"], f["steps"], f["usage"].model_dump_json(),
                 f["cost_usd"], f["last_seq"], f["finished_at"], now(), task_id, *where_params),
            )
            task = read_task(conn, task_id)
            if cur.rowcount == 0:
                raise ConflictError(f"task {task_id} is {task.state}; it cannot become {f['state']}")
            try:
                conn.execute("INSERT INTO events (task_id, seq, type, data) VALUES (?,?,?,?)",
                             (task_id, row.seq, row.type, row.data))
            except sqlite3.IntegrityError:
                raise ConflictError(f"event {row.seq} of task {task_id} already exists") from None
            return task

        return await self._write_soon(finish)

    async def active_tasks(self, agents: Collection[str]) -> list[TaskRecord]:
        states, names = sorted(ACTIVE_STATES), sorted(agents)

        def active() -> list[TaskRecord]:
            rows = self._conn().execute(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE state IN ({marks(states)}) "
                f"AND agent IN ({marks(names)}) ORDER BY created_at",
                (*states, *names),
            ).fetchall()
            return [task_from_row(r) for r in rows]

        return await self._run(active)

    async def list_tasks(
        self, agent: str, *, owner: str | None, state: TaskState | None = None, limit: int = 20,
        after: ListPosition | None = None,
    ) -> TaskPage:
        """One query on `tasks_by_owner` (or `tasks_by_agent` for every owner), newest first."""
        where, params = ["agent = ?"], list[Any]([agent])
        for column, value in (("owner", owner), ("state", state)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if after is not None:
            where.append("(created_at, task_id) < (?, ?)")
            params.extend((after.created_at, after.task_id))

        def page() -> TaskPage:
            rows = self._conn().execute(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE {' AND '.join(where)} "
                "ORDER BY created_at DESC, task_id DESC LIMIT ?", (*params, limit + 1),
            ).fetchall()
            tasks = [task_from_row(r) for r in rows[:limit]]
            return TaskPage(tasks, list_position(tasks[-1]) if len(rows) > limit else None)

        return await self._run(page)
