"""The in-process notifier: a notify that lands between `listening` and `wait_for` is not lost."""

from __future__ import annotations

import asyncio

from agent_runtime.store.notify import Notifier


async def test_a_notify_while_the_store_is_read_still_wakes_the_waiter() -> None:
    notifier = Notifier()
    with notifier.listening(("events", "t1")) as written:
        notifier.notify(("events", "t1"))  # e.g. the worker wrote an event while the API was reading
        assert await notifier.wait_for(written, 5.0) is True
    assert notifier._waiters == {}


async def test_wait_times_out_without_a_notify_and_leaves_no_waiter() -> None:
    notifier = Notifier()
    assert await notifier.wait(("events", "t1"), 0.01) is False
    notifier.notify(("events", "other"))
    assert notifier._waiters == {}


async def test_notify_wakes_every_waiter_of_its_key_only() -> None:
    notifier = Notifier()
    woken = asyncio.gather(notifier.wait("a", 5.0), notifier.wait("a", 5.0))
    other = asyncio.ensure_future(notifier.wait("b", 0.05))
    await asyncio.sleep(0)
    notifier.notify("a")
    assert await woken == [True, True]
    assert await other is False
