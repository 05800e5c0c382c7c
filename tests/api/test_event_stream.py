"""The event stream's follower, unit by unit, on a real SQLite store and notifier: the events of one
write go out in one chunk, each once and in order; a live delta wakes the stream without a stored
event; the messages are the bytes `ServerSentEvent.encode` would write."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sse_starlette import ServerSentEvent

from agent_runtime.api.routes.events import _follow, sse_message
from agent_runtime.events import ModelDelta, ModelTurn, TaskFinished, ToolCallStarted, Usage
from agent_runtime.store.base import TaskRecord
from agent_runtime.store.notify import Notifier, live_key
from agent_runtime.store.sqlite import SQLiteStore

TASK = "t1"


@pytest.mark.parametrize(("data", "event", "id"), [
    ('{"a": 1}', "model.turn", 7),
    ('{"text": "hi"}', "model.delta", None),
    ("two\nlines\r\nof text", "model.delta", 3),
])
def test_a_message_is_what_server_sent_event_encodes(data: str, event: str, id: int | None) -> None:
    expected = ServerSentEvent(data=data, event=event, id=None if id is None else str(id)).encode()
    assert sse_message(data, event, id).encode() == expected


def _turn(seq: int, step: int) -> ModelTurn:
    return ModelTurn(task_id=TASK, seq=seq, ts=time.time(), step=step, thought=f"step {step}")


async def _next(stream: AsyncIterator[bytes]) -> bytes:
    return await asyncio.wait_for(anext(stream), 5)


async def test_a_write_goes_out_in_one_chunk_each_event_once_in_order(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    notifier = Notifier()
    services = SimpleNamespace(store=store, notifier=notifier, poll_s=30.0)  # no poll: only notifies wake it
    try:
        await store.create_task(TaskRecord(task_id=TASK, agent="research", input="hi"))
        first = _turn(1, 1)
        await store.save_progress(TASK, events=[first])
        stream = _follow(services, TASK, 0)  # type: ignore[arg-type]
        assert await _next(stream) == sse_message(first.model_dump_json(), "model.turn", 1).encode()
        started = ToolCallStarted(task_id=TASK, seq=2, ts=time.time(), step=1, call_id="c1", tool="echo",
                                  arguments={"text": "hi"})
        pending = asyncio.ensure_future(_next(stream))
        await asyncio.sleep(0.05)
        assert not pending.done()  # waiting for a notify
        await store.save_progress(TASK, events=[started, _turn(3, 2)])
        notifier.notify(("events", TASK))
        chunk = (await pending).decode()
        assert chunk.count("\r\n\r\n") == 2 and chunk.index("id: 2\r\n") < chunk.index("id: 3\r\n")
        old, new = (ModelDelta(task_id=TASK, ts=time.time(), step=s, text=t) for s, t in ((1, "old"), (3, "new")))
        notifier.publish(live_key(TASK), old)
        notifier.publish(live_key(TASK), new)
        # Woken by the live items alone; the delta of a step whose turn was sent is dropped.
        assert await _next(stream) == sse_message(new.model_dump_json(), "model.delta").encode()
        done = TaskFinished(task_id=TASK, seq=4, ts=time.time(), steps=2, usage=Usage(), cost_usd=0.0,
                            stop_reason="final_answer", answer="hi")
        await store.finish_task(TASK, done)
        notifier.notify(("events", TASK))
        assert (await _next(stream)).decode().startswith("id: 4\r\nevent: task.finished\r\n")
        with pytest.raises(StopAsyncIteration):
            await _next(stream)
        assert notifier._waiters == {} and notifier._inboxes == {}
    finally:
        await store.close()


async def test_the_stream_polls_the_store_when_no_notify_comes(tmp_path: Path) -> None:
    """Another process's writes are not notified here: the stream finds them at its next poll."""
    store = SQLiteStore(tmp_path / "s.db")
    services = SimpleNamespace(store=store, notifier=Notifier(), poll_s=0.05)
    try:
        await store.create_task(TaskRecord(task_id=TASK, agent="research", input="hi"))
        stream = _follow(services, TASK, 0)  # type: ignore[arg-type]
        pending = asyncio.ensure_future(_next(stream))
        await asyncio.sleep(0.02)
        await store.save_progress(TASK, events=[_turn(1, 1)])  # no notify
        assert (await pending).decode().startswith("id: 1\r\nevent: model.turn\r\n")
        await stream.aclose()
    finally:
        await store.close()
