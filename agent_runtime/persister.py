"""Writes a task's events and checkpoints to the store for the worker, batching what piles up.

While one write is in flight, new events and the latest checkpoint wait and go together in the
next one, so a busy task costs about one store write per tool result, not one per event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from agent_runtime.checkpoint import Checkpoint
from agent_runtime.events import Event
from agent_runtime.store.base import Store
from agent_runtime.store.notify import Notifier


class Persister:
    """Writes a task's events and checkpoints, batching whatever piled up during the previous write.

    `checkpoint()` returns only when the checkpoint (and every event up to its seq) is
    stored, so no tool call starts before the result of the previous one is durable.
    """

    def __init__(self, store: Store, notifier: Notifier, task_id: str, owner: str, *, seq: int, saved: int) -> None:
        self.store, self.notifier, self.task_id, self.owner = store, notifier, task_id, owner
        self.received_seq = seq
        self.saved_messages = saved
        self.pending: list[Event] = []
        self.cp: Checkpoint | None = None
        self.requested = 0  # checkpoint requests so far
        self.durable = 0  # requests covered by a completed write
        self.error: BaseException | None = None
        self.cancel_flag: bool | None = None  # the task's cancel flag as the last completed write left it
        self.told_at = float("-inf")  # when (monotonic) a write last told that flag
        self._changed = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            if self.error is not None:
                raise self.error
            await self._changed.wait()

    async def _received(self, seq: int) -> None:
        await self._until(lambda: self.received_seq >= seq)

    def add(self, event: Event) -> None:
        """Queue an event for the next write (it is stored with the next batch, in order)."""
        self.pending.append(event)
        self.received_seq = event.seq
        self._signal()
        self._kick()

    async def checkpoint(self, cp: Checkpoint) -> bool | None:
        """Store the checkpoint and every event up to its seq; return when that write is done, with
        the store's cancel flag as the last write left it (None when the store did not say)."""
        self.cp = cp
        self.requested += 1
        ticket = self.requested
        self._kick()
        await self._until(lambda: self.durable >= ticket)
        return self.cancel_flag

    async def drain(self) -> None:
        """Wait until everything received so far is stored."""
        while True:
            if self.error is not None:
                raise self.error
            if self.pending or self.durable < self.requested:
                self._kick()
            if self._idle():
                return
            assert self._flusher is not None
            await asyncio.wait({self._flusher})

    def _idle(self) -> bool:
        return self._flusher is None or self._flusher.done()

    def _kick(self) -> None:
        if self._idle() and self.error is None:
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self.pending or self.durable < self.requested:
                cp = self.cp if self.durable < self.requested else None
                if cp is not None:  # its events must be in the same write: no gap in seq on resume
                    await self._received(cp.seq)
                # From here to the store call nothing awaits: the checkpoint cannot change under us.
                events, self.pending = self.pending, []
                ticket = self.requested
                count = len(cp.messages) if cp is not None else self.saved_messages
                flag = await self.store.save_progress(self.task_id, events=events, checkpoint=cp,
                                                      saved_messages=self.saved_messages, owner=self.owner)
                self.cancel_flag = flag if isinstance(flag, bool) else None  # a wrapped store may not say
                self.told_at = time.monotonic()
                self.saved_messages = count
                if cp is not None:
                    self.durable = ticket
                self.notifier.notify(("events", self.task_id))
                self._signal()
        except BaseException as exc:
            self.error = exc
            self._signal()
            if not isinstance(exc, Exception):
                raise
