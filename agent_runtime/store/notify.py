"""In-process change signals between the worker and the API of one process.

The store is the truth; these only wake waiters early (a new event, a decided approval,
a cancel request) so local round trips are immediate. Waiters always re-read the
store and also poll it, because in AWS the API request and the worker running the
task may be in different containers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable


class Notifier:
    """Wake-ups keyed by any hashable (e.g. ("events", task_id)). One event loop only."""

    def __init__(self) -> None:
        self._waiters: dict[Hashable, set[asyncio.Future[None]]] = {}

    def notify(self, key: Hashable) -> None:
        for fut in self._waiters.pop(key, ()):
            if not fut.done():
                fut.set_result(None)

    async def wait(self, key: Hashable, within_s: float) -> bool:
        """Wait for a `notify(key)` up to `within_s` seconds; True if it came."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, set()).add(fut)
        try:
            await asyncio.wait_for(fut, within_s)
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(fut)
                if not waiters:
                    del self._waiters[key]
