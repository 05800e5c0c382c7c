"""The store in one SQLite file (WAL mode): the local server's durable state.

Calls run on a small thread pool, one connection per thread, so the event loop never
blocks on disk. Conditional writes are `UPDATE ... WHERE <condition>` inside
`BEGIN IMMEDIATE` transactions; several processes may share the file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from agent_runtime.errors import ConflictError, NotFoundError
from agent_runtime.events import Event, TerminalEvent, Usage
from agent_runtime.loop import Checkpoint
from agent_runtime.models.base import Message
from agent_runtime.store.base import (
    ACTIVE_STATES,
    DEFAULT_RETENTION_S,
    IDEMPOTENCY_RETENTION_S,
    MAX_SESSION_MESSAGES,
    ApprovalRecord,
    StoredEvent,
    TaskRecord,
    TaskState,
    checkpoint_from_header,
    checkpoint_header,
    claim_conflict,
    decide_conflict,
    event_row,
    now,
    terminal_fields,
    trim_session,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, agent TEXT NOT NULL, state TEXT NOT NULL, input TEXT NOT NULL,
    session_id TEXT, metadata TEXT NOT NULL, limits TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, started_at REAL, finished_at REAL,
    answer TEXT, error TEXT, stop_reason TEXT, steps INTEGER NOT NULL DEFAULT 0,
    usage TEXT NOT NULL DEFAULT '{}', cost_usd REAL NOT NULL DEFAULT 0, last_seq INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT, lease_until REAL NOT NULL DEFAULT 0, checkpoint TEXT
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
CREATE TABLE IF NOT EXISTS session_messages (
    session_id TEXT NOT NULL, idx INTEGER NOT NULL, message TEXT NOT NULL, PRIMARY KEY (session_id, idx)
);
"""

_TASK_COLUMNS = (
    "task_id, agent, state, input, session_id, metadata, limits, created_at, updated_at, started_at, "
    "finished_at, answer, error, stop_reason, steps, usage, cost_usd, last_seq, cancel_requested, attempts, "
    "lease_owner, lease_until"
)


def _task_from_row(row: sqlite3.Row) -> TaskRecord:
    return TaskRecord(
        task_id=row["task_id"], agent=row["agent"], input=row["input"], state=row["state"],
        session_id=row["session_id"], metadata=json.loads(row["metadata"]), limits=json.loads(row["limits"]),
        created_at=row["created_at"], updated_at=row["updated_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], answer=row["answer"], error=row["error"], stop_reason=row["stop_reason"],
        steps=row["steps"], usage=Usage.model_validate_json(row["usage"]), cost_usd=row["cost_usd"],
        last_seq=row["last_seq"], cancel_requested=bool(row["cancel_requested"]), attempts=row["attempts"],
        lease_owner=row["lease_owner"], lease_until=row["lease_until"],
    )


def _approval_from_row(row: sqlite3.Row) -> ApprovalRecord:
    return ApprovalRecord(
        task_id=row["task_id"], call_id=row["call_id"], tool=row["tool"], arguments=json.loads(row["arguments"]),
        step=row["step"], deadline=row["deadline"], requested_at=row["requested_at"], status=row["status"],
        reason=row["reason"], decided_by=row["decided_by"], decided_at=row["decided_at"],
    )


def _marks(values: Collection[Any]) -> str:
    return ",".join("?" * len(values))


class SQLiteStore:
    """`Store` over a SQLite file. Also serves as the loop's session `Memory`."""

    def __init__(self, path: str | Path, *, retention_s: float = DEFAULT_RETENTION_S, threads: int = 4) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.retention_s = retention_s
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqlite-store")
        conn = self._conn()
        conn.executescript(_SCHEMA)
        self._purge_expired(conn)

    # -- plumbing ------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes; WAL fsyncs at checkpoints
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _purge_expired(self, conn: sqlite3.Connection) -> None:
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

    def _task(self, conn: sqlite3.Connection, task_id: str) -> TaskRecord:
        row = conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"task {task_id!r} not found")
        return _task_from_row(row)

    async def close(self) -> None:
        def close_all() -> None:
            with self._conns_lock:
                for conn in self._conns:
                    conn.close()
                self._conns.clear()

        await self._run(lambda: None)  # let queued calls finish first
        self._executor.shutdown(wait=True)
        close_all()

    # -- tasks ---------------------------------------------------------------

    async def create_task(
        self, task: TaskRecord, *, idempotency_key: str | None = None, body_hash: str | None = None
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
                    return self._task(conn, row["task_id"]), False
                conn.execute(
                    "INSERT OR REPLACE INTO idempotency (scope_key, task_id, body_hash, created_at) VALUES (?,?,?,?)",
                    (scope, task.task_id, body_hash or "", now()),
                )
            t = now()
            task.created_at = task.created_at or t
            task.updated_at = t
            conn.execute(
                "INSERT INTO tasks (task_id, agent, state, input, session_id, metadata, limits, created_at, "
                "updated_at, usage) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (task.task_id, task.agent, task.state, task.input, task.session_id, json.dumps(task.metadata),
                 json.dumps(task.limits), task.created_at, task.updated_at, task.usage.model_dump_json()),
            )
            return task, True

        try:
            return await self._run(self._write, create)
        except sqlite3.IntegrityError:
            raise ConflictError(f"task {task.task_id!r} already exists") from None

    async def get_task(self, task_id: str) -> TaskRecord:
        return await self._run(lambda: self._task(self._conn(), task_id))

    def _conditional(
        self, task_id: str, sets: str, params: Sequence[Any], where: str, where_params: Sequence[Any],
        explain: Callable[[TaskRecord], str],
    ) -> TaskRecord:
        def update(conn: sqlite3.Connection) -> TaskRecord:
            cur = conn.execute(
                f"UPDATE tasks SET {sets}, updated_at = ? WHERE task_id = ? AND ({where})",
                (*params, now(), task_id, *where_params),
            )
            task = self._task(conn, task_id)  # NotFoundError when missing
            if cur.rowcount == 0:
                raise ConflictError(explain(task))
            return task

        return self._write(update)

    async def claim_task(self, task_id: str, *, owner: str, lease_s: float) -> TaskRecord:
        t = now()
        return await self._run(
            self._conditional, task_id,
            "state = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?, "
            "started_at = COALESCE(started_at, ?)",
            (owner, t + lease_s, t),
            f"state IN ({_marks(ACTIVE_STATES)}) AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
            (*sorted(ACTIVE_STATES), owner, t),
            lambda task: claim_conflict(task),
        )

    async def renew_lease(self, task_id: str, *, owner: str, lease_s: float) -> TaskRecord:
        return await self._run(
            self._conditional, task_id, "lease_until = ?", (now() + lease_s,),
            f"lease_owner = ? AND state IN ({_marks(ACTIVE_STATES)})", (owner, *sorted(ACTIVE_STATES)),
            lambda task: f"lease on task {task_id} lost (state {task.state}, owner {task.lease_owner})",
        )

    async def release_lease(self, task_id: str, *, owner: str, refund_attempt: bool = False) -> None:
        def release(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tasks SET lease_owner = NULL, lease_until = 0, attempts = MAX(0, attempts - ?) "
                "WHERE task_id = ? AND lease_owner = ?",
                (1 if refund_attempt else 0, task_id, owner),
            )

        await self._run(self._write, release)

    async def set_state(self, task_id: str, state: TaskState, *, from_states: Collection[str]) -> TaskRecord:
        states = sorted(from_states)
        return await self._run(
            self._conditional, task_id, "state = ?", (state,), f"state IN ({_marks(states)})", states,
            lambda task: f"task {task_id} is {task.state}, not {' or '.join(states)}",
        )

    async def request_cancel(self, task_id: str) -> TaskRecord:
        return await self._run(
            self._conditional, task_id, "cancel_requested = 1", (),
            f"state IN ({_marks(ACTIVE_STATES)})", sorted(ACTIVE_STATES),
            lambda task: f"task {task_id} already {task.state}",
        )

    async def finish_task(
        self, task_id: str, event: TerminalEvent, *, owner: str | None = None,
        from_states: Collection[str] = ACTIVE_STATES,
    ) -> TaskRecord:
        f = terminal_fields(event)
        row = event_row(event)
        states = sorted(from_states)
        where = f"state IN ({_marks(states)})" + (" AND lease_owner = ?" if owner else "")
        where_params = [*states, *([owner] if owner else [])]

        def finish(conn: sqlite3.Connection) -> TaskRecord:
            cur = conn.execute(
                f"UPDATE tasks SET state = ?, answer = ?, error = ?, stop_reason = ?, steps = ?, usage = ?, "
                f"cost_usd = ?, last_seq = ?, finished_at = ?, updated_at = ?, lease_owner = NULL, lease_until = 0 "
                f"WHERE task_id = ? AND ({where})",
                (f["state"], f["answer"], f["error"], f["stop_reason"], f["steps"], f["usage"].model_dump_json(),
                 f["cost_usd"], f["last_seq"], f["finished_at"], now(), task_id, *where_params),
            )
            task = self._task(conn, task_id)
            if cur.rowcount == 0:
                raise ConflictError(f"task {task_id} is {task.state}; it cannot become {f['state']}")
            try:
                conn.execute("INSERT INTO events (task_id, seq, type, data) VALUES (?,?,?,?)",
                             (task_id, row.seq, row.type, row.data))
            except sqlite3.IntegrityError:
                raise ConflictError(f"event {row.seq} of task {task_id} already exists") from None
            return task

        return await self._run(self._write, finish)

    async def active_tasks(self, agents: Collection[str]) -> list[TaskRecord]:
        states, names = sorted(ACTIVE_STATES), sorted(agents)

        def active() -> list[TaskRecord]:
            rows = self._conn().execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks WHERE state IN ({_marks(states)}) "
                f"AND agent IN ({_marks(names)}) ORDER BY created_at",
                (*states, *names),
            ).fetchall()
            return [_task_from_row(r) for r in rows]

        return await self._run(active)

    # -- events and checkpoints --------------------------------------------------

    async def save_progress(
        self, task_id: str, *, events: Sequence[Event] = (), checkpoint: Checkpoint | None = None,
        saved_messages: int = 0, owner: str | None = None,
    ) -> None:
        rows = [event_row(e) for e in events]
        sets: list[str] = ["updated_at = ?"]
        params: list[Any] = [now()]
        if rows:
            sets.append("last_seq = MAX(last_seq, ?)")
            params.append(rows[-1].seq)
        new_messages: list[tuple[str, int, str]] = []
        if checkpoint is not None:
            new_messages = [(task_id, saved_messages + i, json.dumps(m))
                            for i, m in enumerate(checkpoint.messages[saved_messages:])]
            header = checkpoint_header(checkpoint)
            sets += ["checkpoint = ?", "steps = ?", "usage = ?", "cost_usd = ?"]
            params += [json.dumps(header), checkpoint.step, checkpoint.usage.model_dump_json(), checkpoint.cost_usd]
        where, where_params = ("lease_owner = ?", [owner]) if owner else ("1 = 1", [])

        def save(conn: sqlite3.Connection) -> None:
            cur = conn.execute(f"UPDATE tasks SET {', '.join(sets)} WHERE task_id = ? AND {where}",
                               (*params, task_id, *where_params))
            if cur.rowcount == 0:
                task = self._task(conn, task_id)
                raise ConflictError(f"task {task_id} is leased by {task.lease_owner}, not {owner}")
            if rows:
                conn.executemany("INSERT OR REPLACE INTO events (task_id, seq, type, data) VALUES (?,?,?,?)",
                                 [(task_id, r.seq, r.type, r.data) for r in rows])
            if new_messages:
                conn.executemany("INSERT OR REPLACE INTO messages (task_id, idx, message) VALUES (?,?,?)",
                                 new_messages)

        await self._run(self._write, save)

    async def list_events(self, task_id: str, *, after: int = 0, limit: int = 500) -> list[StoredEvent]:
        def read() -> list[StoredEvent]:
            rows = self._conn().execute(
                "SELECT seq, type, data FROM events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (task_id, after, limit),
            ).fetchall()
            return [StoredEvent(r[0], r[1], r[2]) for r in rows]

        return await self._run(read)

    async def last_seq(self, task_id: str) -> int:
        def read() -> int:
            row = self._conn().execute("SELECT MAX(seq) FROM events WHERE task_id = ?", (task_id,)).fetchone()
            return int(row[0] or 0)

        return await self._run(read)

    async def load_checkpoint(self, task_id: str) -> Checkpoint | None:
        def read() -> Checkpoint | None:
            conn = self._conn()
            row = conn.execute("SELECT checkpoint FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"task {task_id!r} not found")
            if row[0] is None:
                return None
            header = json.loads(row[0])
            msgs = conn.execute(
                "SELECT message FROM messages WHERE task_id = ? AND idx < ? ORDER BY idx", (task_id, header["count"])
            ).fetchall()
            return checkpoint_from_header(header, [json.loads(m[0]) for m in msgs])

        return await self._run(read)

    # -- approvals -------------------------------------------------------------------

    async def create_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        a = approval

        def create(conn: sqlite3.Connection) -> ApprovalRecord:
            conn.execute(
                "INSERT OR IGNORE INTO approvals (task_id, call_id, tool, arguments, step, deadline, requested_at, "
                "status) VALUES (?,?,?,?,?,?,?, 'pending')",
                (a.task_id, a.call_id, a.tool, json.dumps(a.arguments), a.step, a.deadline, a.requested_at or now()),
            )
            return self._approval(conn, a.task_id, a.call_id)

        return await self._run(self._write, create)

    def _approval(self, conn: sqlite3.Connection, task_id: str, call_id: str) -> ApprovalRecord:
        row = conn.execute("SELECT * FROM approvals WHERE task_id = ? AND call_id = ?", (task_id, call_id)).fetchone()
        if row is None:
            raise NotFoundError(f"no approval {call_id!r} for task {task_id!r}")
        return _approval_from_row(row)

    async def get_approval(self, task_id: str, call_id: str) -> ApprovalRecord:
        return await self._run(lambda: self._approval(self._conn(), task_id, call_id))

    async def list_approvals(self, task_id: str, *, pending_only: bool = False) -> list[ApprovalRecord]:
        def read() -> list[ApprovalRecord]:
            sql = "SELECT * FROM approvals WHERE task_id = ?" + (" AND status = 'pending'" if pending_only else "")
            rows = self._conn().execute(sql + " ORDER BY requested_at, call_id", (task_id,)).fetchall()
            return [_approval_from_row(r) for r in rows]

        return await self._run(read)

    async def decide_approval(
        self, task_id: str, call_id: str, *, approved: bool, reason: str | None, decided_by: str,
        enforce_deadline: bool = True,
    ) -> ApprovalRecord:
        def decide(conn: sqlite3.Connection) -> ApprovalRecord:
            t = now()
            cur = conn.execute(
                "UPDATE approvals SET status = ?, reason = ?, decided_by = ?, decided_at = ? "
                "WHERE task_id = ? AND call_id = ? AND status = 'pending' AND (? OR deadline >= ?)",
                ("approved" if approved else "rejected", reason, decided_by, t, task_id, call_id,
                 0 if enforce_deadline else 1, t),
            )
            record = self._approval(conn, task_id, call_id)
            if cur.rowcount == 0:
                raise ConflictError(decide_conflict(record))
            return record

        return await self._run(self._write, decide)

    # -- session memory ------------------------------------------------------------------

    async def load(self, session_id: str) -> list[Message]:
        def read() -> list[Message]:
            rows = self._conn().execute(
                "SELECT message FROM (SELECT idx, message FROM session_messages WHERE session_id = ? "
                "ORDER BY idx DESC LIMIT ?) ORDER BY idx",
                (session_id, MAX_SESSION_MESSAGES),
            ).fetchall()
            return trim_session([json.loads(r[0]) for r in rows])

        return await self._run(read)

    async def append(self, session_id: str, messages: list[Message]) -> None:
        def add(conn: sqlite3.Connection) -> None:
            (start,) = conn.execute(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM session_messages WHERE session_id = ?", (session_id,)
            ).fetchone()
            conn.executemany(
                "INSERT INTO session_messages (session_id, idx, message) VALUES (?,?,?)",
                [(session_id, start + i, json.dumps(m)) for i, m in enumerate(messages)],
            )

        if messages:
            await self._run(self._write, add)
