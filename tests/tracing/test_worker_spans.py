"""The worker's spans: a task's run continues the trace its submit request stored, a checkpoint write is a
span, and an attempt that resumes a handed-back task (as another replica would) links to the one before."""

from __future__ import annotations

from pathlib import Path

from tests.test_worker import Rig, _true, running, wait_until
from tests.tracing.conftest import Spans

SUBMIT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_a_handed_back_task_resumes_in_the_same_trace_linked_to_its_first_attempt(
    spans: Spans, tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    try:
        task_id = await rig.submit("crash", trace_context=SUBMIT)
        async with running(rig.worker()):
            await wait_until(lambda: _true(len(rig.tools["slow"].started(task_id)) == 1))
        async with running(rig.worker()):  # the task went back to the queue: another worker resumes it
            assert (await rig.done(task_id)).state == "succeeded"
    finally:
        await rig.store.close()
    first, second = sorted(spans.named("invoke_agent research"), key=lambda s: s.start_time)
    for attempt in (first, second):
        assert f"{attempt.context.trace_id:032x}" == SUBMIT.split("-")[1]
        assert f"{attempt.parent.span_id:016x}" == SUBMIT.split("-")[2]  # the submit request's span
    assert first.attributes["agent_platform.resumed"] is False and second.attributes["agent_platform.resumed"] is True
    assert [link.context.span_id for link in second.links] == [first.context.span_id]
    assert second.attributes["agent_platform.task.outcome"] == "succeeded"
    assert first.attributes["agent_platform.task.outcome"] == "interrupted"  # handed back: no terminal event
    loads = spans.named("load_checkpoint")
    assert len(loads) == 2 and all(f"{s.parent.span_id:016x}" == SUBMIT.split("-")[2] for s in loads)
    assert spans.named("save_checkpoint") and all(
        s.parent.span_id in {first.context.span_id, second.context.span_id} or s.parent.span_id in {
            t.context.span_id for t in spans.named("execute_tool")} for s in spans.named("save_checkpoint"))
