"""Connections to one SQLite file: one per pool thread, so the event loop never waits for a lock or an
fsync; the hot calls (a task's writes, reads of a task or of its events by key) go on the loop's thread
when they need no wait."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from lambda_tools.private_files import private_file

T = TypeVar("T")

# Commits on the loop's thread between two WAL checkpoints run in the pool (its connections never checkpoint).
CHECKPOINT_EVERY = 250


class SQLiteConnections:
    """The file, its per-thread connections (WAL mode) and the pool that runs every call.

    The store's parts (tasks, events, approvals, sessions) build on this class.
    """

    def __init__(self, path: str | Path, *, schema: str, threads: int = 4) -> None:
        self.path = Path(path)
        # 0600 before SQLite opens it: its -wal and -shm files take the database file's mode.
        private_file(self.path)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqlite-store")
        self._inline_commits = 0  # commits by `_write_soon` on the loop's thread
        self._conn().executescript(schema)

    def _conn(self, *, inline: bool = False) -> sqlite3.Connection:
        """This thread's connection; `inline`: the one for writes on the event loop's thread, which never
        waits for a lock (busy_timeout 0) and never checkpoints the WAL (no fsync on the loop)."""
        name = "inline" if inline else "conn"
        conn: sqlite3.Connection | None = getattr(self._local, name, None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes; WAL fsyncs at checkpoints
            conn.execute("PRAGMA busy_timeout=0" if inline else "PRAGMA busy_timeout=30000")
            if inline:
                conn.execute("PRAGMA wal_autocheckpoint=0")
            setattr(self._local, name, conn)
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one `BEGIN IMMEDIATE` transaction: it sees and writes a consistent file."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def _write_soon(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`_write(fn)` on the event loop's thread when the write lock is free at once, else in the pool.

        For a small, frequent write of one task (its creation, claim, lease, a step's events and checkpoint,
        its end): a hop to the pool and back costs
        more CPU than the write, which with WAL and synchronous=NORMAL appends a few pages to the WAL
        without an fsync. The loop never waits for the lock (another writer holds it: the pool takes the
        write) nor for a checkpoint's fsync (the pool runs one every `CHECKPOINT_EVERY` such commits)."""
        conn = self._conn(inline=True)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # locked by another connection: wait for it in the pool
            return await self._run(self._write, fn)
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._inline_commits += 1
        if self._inline_commits % CHECKPOINT_EVERY == 0:
            self._executor.submit(self._checkpoint_wal)
        return result

    async def _read_soon(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(conn)`, a small read by key, on the event loop's thread; in the pool if the file is busy.

        A WAL reader takes no lock and waits for no writer, so a read of a few rows by key costs less
        than the hop to the pool and back (which also has the pool thread and the loop contend for the
        GIL at every event a stream follows). The inline connection has no transaction open between two
        awaits (its writes begin and end in one call), so the read sees the latest commit. Should SQLite
        say busy (a WAL recovery in another process), the read waits for it in the pool."""
        try:
            return fn(self._conn(inline=True))
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
        return await self._run(lambda: fn(self._conn()))

    def _checkpoint_wal(self) -> None:
        self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def close(self) -> None:
        """Finish queued calls, then close every connection."""

        def close_all() -> None:
            with self._conns_lock:
                for conn in self._conns:
                    conn.close()
                self._conns.clear()

        await self._run(lambda: None)  # let queued calls finish first
        self._executor.shutdown(wait=True)
        close_all()
