"""In-process change signals between the worker and the API of one process.

The store is the truth; these only wake waiters early (a new event, a decided approval,
a cancel request) so local round trips are immediate. Waiters always re-read the
store and also poll it, because in AWS the API request and the worker running the
task may be in different containers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable, Iterator


class Notifier:
    """Wake-ups keyed by any hashable (e.g. ("events", task_id)). One event loop only."""

    def __init__(self) -> None:
        self._waiters: dict[Hashable, set[asyncio.Future[None]]] = {}

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
