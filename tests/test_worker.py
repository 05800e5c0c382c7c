"""The worker over SQLite and the in-process queue: concurrency, persistence, resume, leases, poison
tasks, durable approvals and cancellation through the store."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agent_runtime.agents import RESEARCH
from agent_runtime.errors import NotFoundError
from agent_runtime.queue.local import LocalQueue
from agent_runtime.queue.sqs import SqsQueue
from agent_runtime.store.base import TaskRecord
from agent_runtime.store.notify import Notifier
from agent_runtime.store.sqlite import SQLiteStore
from agent_runtime.worker import AgentRuntime, Worker
from tests.api.support import SCRIPTS, CountingTool, make_tools, wait_until
from tests.fakes.scripted_model import ScriptedModel


class Rig:
    def __init__(self, path: Path) -> None:
        self.store = SQLiteStore(path / "w.db")
        self.queue = LocalQueue()
        self.tools = make_tools()
        self.runtimes = {"research": AgentRuntime(RESEARCH, ScriptedModel(SCRIPTS), self.tools)}  # type: ignore[arg-type]
        self.n = 0

    def worker(self, **kw: Any) -> Worker:
        kw.setdefault("poll_s", 0.05)
        kw.setdefault("receive_wait_s", 0.2)
        return Worker(store=self.store, queue=self.queue, runtimes=self.runtimes, **kw)

    async def submit(self, text: str, *, enqueue: bool = True, **kw: Any) -> str:
        self.n += 1
        task_id = f"research-{self.n}"
        await self.store.create_task(TaskRecord(task_id=task_id, agent="research", input=text, **kw))
        if enqueue:
            await self.queue.send(task_id, "research")
        return task_id

    async def done(self, task_id: str, within_s: float = 10.0) -> TaskRecord:
        async def ended() -> bool:
            return (await self.store.get_task(task_id)).terminal

        await wait_until(ended, within_s)
        return await self.store.get_task(task_id)

    async def types(self, task_id: str) -> list[str]:
        return [e.type for e in await self.store.list_events(task_id)]

    async def has_event(self, task_id: str, type_: str, count: int = 1) -> bool:
        return (await self.types(task_id)).count(type_) >= count


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path)
    yield r
    await r.store.close()


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    runner = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await worker.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


def max_overlap(tool: CountingTool) -> int:
    points = sorted([(s, 1) for s, _ in tool.intervals] + [(e, -1) for _, e in tool.intervals if e is not None])
    best = level = 0
    for _, delta in points:
        level += delta
        best = max(best, level)
    return best


async def test_runs_tasks_concurrently_up_to_the_limit(rig: Rig) -> None:
    rig.runtimes["research"] = AgentRuntime(
        RESEARCH, ScriptedModel({"slow": [SCRIPTS["slow"][0], SCRIPTS["slow"][1]]}), rig.tools)  # type: ignore[arg-type]
    for _ in range(4):
        await rig.submit("slow", limits={"tool_timeout_s": 0.3})  # each slow call is cut at 0.3 s
    async with running(rig.worker(concurrency=2)):
        ids = [f"research-{i}" for i in range(1, 5)]
        for task_id in ids:
            assert (await rig.done(task_id)).state == "succeeded"
    assert len(rig.tools["slow"].intervals) == 4
    assert max_overlap(rig.tools["slow"]) == 2


async def test_every_event_and_checkpoint_is_stored(rig: Rig) -> None:
    task_id = await rig.submit("hello", session_id="s1")
    async with running(rig.worker()):
        task = await rig.done(task_id)
    assert task.state == "succeeded" and task.answer == 'echo said {"tool": "echo", "text": "hi"}'
    assert task.steps == 2 and task.usage.total_tokens == 30 and task.cost_usd == pytest.approx(0.002)
    events = await rig.store.list_events(task_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1)) and task.last_seq == len(events)
    assert [e.type for e in events] == ["task.started", "model.turn", "tool.started", "tool.finished",
                                        "model.turn", "task.finished"]
    cp = await rig.store.load_checkpoint(task_id)
    assert cp is not None and [m["role"] for m in cp.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert [m["role"] for m in await rig.store.load("research/s1")] == ["user", "assistant", "tool", "assistant"]


async def test_a_handed_back_task_resumes_without_repeating_completed_calls(rig: Rig) -> None:
    task_id = await rig.submit("crash")
    first = rig.worker()
    async with running(first):
        await wait_until(lambda: _true(len(rig.tools["slow"].started(task_id)) == 1))
    # the first worker stopped mid-call (shutdown): the task went back to the queue
    assert (await rig.store.get_task(task_id)).state == "running" and len(rig.queue) == 1
    async with running(rig.worker()):
        task = await rig.done(task_id)
    assert task.state == "succeeded"
    assert task.answer == '{"tool": "echo", "text": "first"} | {"tool": "slow", "text": "second"}'
    assert rig.tools["echo"].started(task_id) == ["call_0_0"]  # not repeated
    assert rig.tools["slow"].started(task_id) == ["call_1_0", "call_1_0"]
    assert rig.tools["slow"].finished(task_id) == ["call_1_0"]
    events = await rig.store.list_events(task_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # no gap, no duplicate
    restarts = [json.loads(e.data) for e in events if e.type == "task.started"]
    assert [s["resumed"] for s in restarts] == [False, True]
    assert task.attempts == 1  # a hand-back does not count as a failed attempt


async def test_shutdowns_never_count_as_attempts_nor_bring_a_task_to_the_dead_letter_queue(rig: Rig) -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq_url = sqs.create_queue(QueueName="tasks-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName="tasks", Attributes={  # SQS dead-letters on the third receive
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})["QueueUrl"]
        rig.queue = SqsQueue(url, client=sqs, visibility_s=30)  # type: ignore[assignment]
        task_id = await rig.submit("crash")
        for stops in range(1, 4):  # three scale-ins, each while the task runs its slow call
            async with running(rig.worker(max_attempts=3, receive_wait_s=1)):
                await wait_until(lambda: _true(len(rig.tools["slow"].started(task_id)) == stops))  # noqa: B023
            assert (await rig.store.get_task(task_id)).attempts == 0  # handed back: refunded
        async with running(rig.worker(max_attempts=3, receive_wait_s=1)):
            task = await rig.done(task_id)
        assert sqs.receive_message(QueueUrl=dlq_url).get("Messages", []) == []
        await rig.queue.close()
    assert task.state == "succeeded" and task.attempts == 1
    assert rig.tools["echo"].started(task_id) == ["call_0_0"]  # resumed each time, never repeated


async def test_a_task_whose_attempts_keep_dying_is_failed_and_dead_lettered(rig: Rig) -> None:
    task_id = await rig.submit("hello", enqueue=False)
    for _ in range(3):  # three workers claimed it and died
        await rig.store.claim_task(task_id, owner="ghost", lease_s=0.001)
    await asyncio.sleep(0.01)
    await rig.queue.send(task_id, "research")
    async with running(rig.worker(max_attempts=3)):
        task = await rig.done(task_id)
    assert task.state == "failed" and "gave up after 3 attempts" in (task.error or "")
    assert [(m.task_id, "gave up" in why) for m, why in rig.queue.dead_letters] == [(task_id, True)]
    assert (await rig.types(task_id))[-1] == "task.failed"
    assert rig.tools["echo"].started(task_id) == []


async def test_a_live_lease_of_another_worker_is_respected(rig: Rig) -> None:
    task_id = await rig.submit("hello")
    await rig.store.claim_task(task_id, owner="other", lease_s=60)
    async with running(rig.worker()) as w:
        await wait_until(lambda: _true(len(rig.queue) == 1 and w.running == 0))
    task = await rig.store.get_task(task_id)
    assert task.lease_owner == "other" and task.attempts == 1 and rig.tools["echo"].started(task_id) == []


async def test_an_approval_decided_in_the_store_by_another_container_is_seen(rig: Rig) -> None:
    task_id = await rig.submit("publish")
    async with running(rig.worker(notifier=Notifier())):  # no in-process signal: the worker must poll
        await wait_until(lambda: rig.has_event(task_id, "approval.requested"))
        assert (await rig.store.get_task(task_id)).state == "waiting_approval"
        (pending,) = await rig.store.list_approvals(task_id, pending_only=True)
        assert pending.tool == "publish" and pending.arguments == {"text": "post", "seconds": 0.0}
        await rig.store.decide_approval(task_id, pending.call_id, approved=True, reason="ok", decided_by="api")
        task = await rig.done(task_id)
    assert task.state == "succeeded" and rig.tools["publish"].finished(task_id) == [pending.call_id]
    resolved = [json.loads(e.data) for e in await rig.store.list_events(task_id) if e.type == "approval.resolved"]
    assert resolved[0]["approved"] and resolved[0]["decided_by"] == "api"


async def test_the_approval_and_the_waiting_state_are_stored_before_the_event(rig: Rig) -> None:
    seen: list[tuple[str, str]] = []  # (approval status, task state) when approval.requested is written
    save_progress = rig.store.save_progress

    async def checking_save(task_id: str, **kw: Any) -> None:
        for event in kw.get("events", ()):
            if event.type == "approval.requested":
                try:
                    status = (await rig.store.get_approval(task_id, event.call_id)).status
                except NotFoundError:
                    status = "missing"
                seen.append((status, (await rig.store.get_task(task_id)).state))
        await save_progress(task_id, **kw)

    rig.store.save_progress = checking_save  # type: ignore[method-assign]
    task_id = await rig.submit("publish", limits={"approval_timeout_s": 0.2})
    async with running(rig.worker()):
        await rig.done(task_id)
    assert seen == [("pending", "waiting_approval")]  # whoever reads the event can decide at once


async def test_approval_timeout_follows_the_policy(rig: Rig) -> None:
    denied = await rig.submit("publish", limits={"approval_timeout_s": 0.3})
    async with running(rig.worker()):
        task = await rig.done(denied)
    assert "rejected (timeout)" in (task.answer or "") and rig.tools["publish"].started(denied) == []
    record = (await rig.store.list_approvals(denied))[0]
    assert (record.status, record.decided_by) == ("rejected", "timeout")

    approved = await rig.submit("publish", limits={"approval_timeout_s": 0.3})
    async with running(rig.worker(approval_timeout_policy="approve")):
        task = await rig.done(approved)
    assert task.answer == '{"tool": "publish", "text": "post"}' and len(rig.tools["publish"].finished(approved)) == 1


async def test_a_decision_stored_while_no_worker_ran_counts_after_the_deadline(rig: Rig) -> None:
    task_id = await rig.submit("publish", limits={"approval_timeout_s": 1.0})
    async with running(rig.worker()):
        await wait_until(lambda: rig.has_event(task_id, "approval.requested"))
    (pending,) = await rig.store.list_approvals(task_id, pending_only=True)
    await rig.store.decide_approval(task_id, pending.call_id, approved=True, reason="yes", decided_by="api")
    await asyncio.sleep(max(0.0, pending.deadline - time.time()) + 0.1)  # the deadline passes with no worker
    async with running(rig.worker()):
        task = await rig.done(task_id)
    assert task.state == "succeeded" and rig.tools["publish"].finished(task_id) == [pending.call_id]


async def test_a_cancel_request_in_the_store_stops_a_running_task(rig: Rig) -> None:
    task_id = await rig.submit("slow")
    async with running(rig.worker(notifier=Notifier())):
        await wait_until(lambda: _true(len(rig.tools["slow"].started(task_id)) == 1))
        await rig.store.request_cancel(task_id)  # as the API of another container would
        task = await rig.done(task_id)
    assert task.state == "cancelled" and task.usage.total_tokens == 15 and task.steps == 1
    assert rig.tools["slow"].finished(task_id) == []


async def _true(value: bool) -> bool:
    return value
