"""Both stores keep what traces need across processes: the submit request's trace context with the task, and
the attempt's span with its checkpoint (the next attempt links to it)."""

from __future__ import annotations

from agent_runtime.checkpoint import Checkpoint
from agent_runtime.store.base import Store, TaskRecord

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_the_task_keeps_its_submit_requests_trace_context(store: Store) -> None:
    await store.create_task(TaskRecord(task_id="research-1", agent="research", input="x", trace_context=TRACEPARENT))
    await store.create_task(TaskRecord(task_id="research-2", agent="research", input="y"))
    assert (await store.get_task("research-1")).trace_context == TRACEPARENT
    assert (await store.get_task("research-2")).trace_context is None


async def test_the_checkpoint_keeps_the_attempts_span(store: Store) -> None:
    await store.create_task(TaskRecord(task_id="research-1", agent="research", input="x"))
    cp = Checkpoint(step=1, messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "x"}],
                    attempt_span=TRACEPARENT)
    await store.save_progress("research-1", checkpoint=cp)
    loaded = await store.load_checkpoint("research-1")
    assert loaded is not None and loaded.attempt_span == TRACEPARENT and loaded.messages == cp.messages
