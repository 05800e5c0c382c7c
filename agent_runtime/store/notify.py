"""In-process change signals between the worker and the API of one process.

The store is the truth; these only wake waiters early (a new event, a decided approval,
a cancel request) so local round trips are immediate. Waiters always re-read the
store and also poll it, because in AWS the API request and the worker running the
task may be in different containers.

The notifier also carries live-only items (the model's streamed text, `model.delta`) from the
worker to the event streams open in the same process: `publish` hands an item to every current
`subscribed` inbox of its key and to nobody else. They are never stored, so a follower served by
another replica than the one running the task sees only the stored events.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Hashable, Iterator
from typing import Any

# Live items an inbox keeps for a slow reader; beyond it the oldest are dropped (they are a preview: the
# stored events that follow carry the whole text).
LIVE_INBOX_LIMIT = 1_000


def live_key(task_id: str) -> tuple[str, str]:
    """The key a task's live-only items (its `model.delta` events) are published under."""
    return ("live", task_id)


class LiveInbox:
    """One subscriber's live items, in order, bounded by `LIVE_INBOX_LIMIT`."""

    def __init__(self) -> None:
        self._items: collections.deque[Any] = collections.deque(maxlen=LIVE_INBOX_LIMIT)
        self._ready: asyncio.Future[None] | None = None

    def put(self, item: Any) -> None:
        self._items.append(item)
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def take(self) -> list[Any]:
        """Every item received since the last take, oldest first."""
        items = list(self._items)
        self._items.clear()
        return items

    def ready(self, fut: asyncio.Future[None] | None = None) -> asyncio.Future[None]:
        """A future done once an item is waiting (at once if one already is): `fut` if given (e.g. a
        `Notifier.listening` future, so that one wait covers stored events and live items), else a new one."""
        if fut is not None or self._ready is None or self._ready.done():
            self._ready = fut if fut is not None else asyncio.get_running_loop().create_future()
            if self._items and not self._ready.done():
                self._ready.set_result(None)
        return self._ready


class Notifier:
    """Wake-ups keyed by any hashable (e.g. ("events", task_id)). One event loop only."""

    def __init__(self) -> None:
        self._waiters: dict[Hashable, set[asyncio.Future[None]]] = {}
        self._inboxes: dict[Hashable, set[LiveInbox]] = {}

    def publish(self, key: Hashable, item: Any) -> None:
        """Hand a live-only item to every inbox subscribed to `key` now (nothing is kept for later)."""
        for inbox in self._inboxes.get(key, ()):
            inbox.put(item)

    def listened(self, key: Hashable) -> bool:
        """Whether an inbox is subscribed to `key` now (a live item published to it would reach someone)."""
        return bool(self._inboxes.get(key))

    @contextlib.contextmanager
    def subscribed(self, key: Hashable) -> Iterator[LiveInbox]:
        """An inbox of the items published to `key` while the block runs."""
        inbox = LiveInbox()
        self._inboxes.setdefault(key, set()).add(inbox)
        try:
            yield inbox
        finally:
            inboxes = self._inboxes.get(key)
            if inboxes is not None:
                inboxes.discard(inbox)
                if not inboxes:
                    del self._inboxes[key]

    def notify(self, key: Hashable) -> None:
        for fut in self._waiters.pop(key, ()):
            if not fut.done():
                fut.set_result(None)

    @contextlib.contextmanager
    def listening(self, key: Hashable) -> Iterator[asyncio.Future[None]]:
        """Listen for `notify(key)` from now on: enter before reading the store, then `wait_for` the
        future after it, so a change that lands while reading is not missed."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, set()).add(fut)
        try:
            yield fut
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(fut)
                if not waiters:
                    del self._waiters[key]

    @staticmethod
    async def wait_for(fut: asyncio.Future[None], within_s: float) -> bool:
        """Wait up to `within_s` seconds for a future from `listening`; True if its notify came."""
        if not fut.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(fut), within_s)
        return fut.done()

    async def wait(self, key: Hashable, within_s: float) -> bool:
        """Wait for a `notify(key)` up to `within_s` seconds; True if it came."""
        with self.listening(key) as fut:
            return await self.wait_for(fut, within_s)
