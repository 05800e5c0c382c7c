"""An in-process task queue for the local server (one event loop).

Messages do not time out while received: the process that received them is the only
consumer, and if it dies the queue dies with it; the server then re-enqueues every
unfinished task from the store at start-up.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque

from agent_runtime.queue.base import QueueMessage


class LocalQueue:
    """`TaskQueue` in memory. Dead-lettered messages are kept in `dead_letters` for inspection."""

    visibility_s = float("inf")

    def __init__(self) -> None:
        self._ready: deque[QueueMessage] = deque()
        self._delayed: list[tuple[float, int, QueueMessage]] = []
        self._ids = itertools.count()
        self._wakeup: asyncio.Event | None = None
        self._queued: set[str] = set()  # task ids waiting (ready or delayed): a task is queued once
        self.dead_letters: list[tuple[QueueMessage, str]] = []

    def _event(self) -> asyncio.Event:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        return self._wakeup

    def __len__(self) -> int:
        return len(self._ready) + len(self._delayed)

    async def send(self, task_id: str, agent: str) -> None:
        if task_id in self._queued:
            return
        self._queued.add(task_id)
        self._ready.append(QueueMessage(task_id, agent, 0, handle=next(self._ids)))
        self._event().set()

    async def receive(self, max_messages: int, wait_s: float) -> list[QueueMessage]:
        deadline = time.monotonic() + wait_s
        while True:
            t = time.monotonic()
            while self._delayed and self._delayed[0][0] <= t:
                self._ready.append(heapq.heappop(self._delayed)[2])
            if self._ready:
                out: list[QueueMessage] = []
                while self._ready and len(out) < max_messages:
                    msg = self._ready.popleft()
                    self._queued.discard(msg.task_id)
                    msg.receive_count += 1
                    out.append(msg)
                return out
            timeout = deadline - t
            if self._delayed:
                timeout = min(timeout, self._delayed[0][0] - t)
            if timeout <= 0 and not self._delayed:
                return []
            wakeup = self._event()
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), max(timeout, 0.0))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    return []

    async def extend(self, message: QueueMessage) -> None:
        return None  # received messages stay hidden until deleted or released

    async def delete(self, message: QueueMessage) -> None:
        return None  # a received message is already out of the queue

    async def release(self, message: QueueMessage, delay_s: float = 0.0) -> None:
        self._queued.add(message.task_id)
        heapq.heappush(self._delayed, (time.monotonic() + delay_s, next(self._ids), message))
        self._event().set()

    async def requeue(self, message: QueueMessage, delay_s: float = 0.0) -> None:
        if message.task_id in self._queued:  # already waiting: a task is queued once
            return
        fresh = QueueMessage(message.task_id, message.agent, 0, handle=next(self._ids))
        await self.release(fresh, delay_s)

    async def dead_letter(self, message: QueueMessage, reason: str) -> None:
        self.dead_letters.append((message, reason))

    async def close(self) -> None:
        return None
