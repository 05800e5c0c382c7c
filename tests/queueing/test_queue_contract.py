"""The queue contract, run against the in-process queue and against SQS with a dead-letter queue (moto)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agent_runtime.queue.base import TaskQueue
from agent_runtime.queue.local import LocalQueue
from agent_runtime.queue.sqs import SqsQueue

# SQS dead-letters a message on its receive after this many; small, so a give-back that spends a
# receive shows within a few rounds.
MAX_RECEIVE_COUNT = 2
SHORT_VISIBILITY_S = 2


class Fixture:
    def __init__(self, queue: TaskQueue, dead: Any, short: Any = None) -> None:
        self.queue = queue
        self.dead_letters = dead  # () -> list of (task_id, reason)
        self.short = short or (lambda: queue)  # () -> the same queue, receiving with a 2 s visibility


@pytest.fixture(params=["local", "sqs"])
async def q(request: pytest.FixtureRequest) -> AsyncIterator[Fixture]:
    if request.param == "local":
        local = LocalQueue()
        yield Fixture(local, lambda: [(m.task_id, r) for m, r in local.dead_letters])
        return
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq_url = sqs.create_queue(QueueName="tasks-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName="tasks", Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
        })["QueueUrl"]
        queue = SqsQueue(url, client=sqs, visibility_s=30)

        def dead() -> list[tuple[str, str]]:
            out = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
            # The worker's own dead-lettering gives a reason; SQS's redrive moves the message as it is.
            reasons = [m.get("MessageAttributes", {}).get("reason", {}) for m in out.get("Messages", [])]
            return [(json.loads(m["Body"])["task_id"], r.get("StringValue", "redrive"))
                    for m, r in zip(out.get("Messages", []), reasons, strict=True)]

        short = SqsQueue(url, client=sqs, visibility_s=SHORT_VISIBILITY_S)
        yield Fixture(queue, dead, lambda: short)
        await queue.close()
        await short.close()


async def test_send_receive_delete(q: Fixture) -> None:
    await q.queue.send("t1", "research")
    await q.queue.send("t2", "content")
    got = await q.queue.receive(10, wait_s=1)
    assert sorted((m.task_id, m.agent, m.receive_count) for m in got) == [("t1", "research", 1), ("t2", "content", 1)]
    for m in got:
        await q.queue.extend(m)
        await q.queue.delete(m)
    assert await q.queue.receive(10, wait_s=0) == []


async def test_received_messages_stay_hidden_until_released(q: Fixture) -> None:
    await q.queue.send("t1", "research")
    (first,) = await q.queue.receive(1, wait_s=1)
    assert await q.queue.receive(1, wait_s=0) == []
    await q.queue.release(first, 0)
    (again,) = await q.queue.receive(1, wait_s=1)
    assert again.task_id == "t1" and again.receive_count == 2


async def test_dead_letter_moves_the_message_with_its_reason(q: Fixture) -> None:
    await q.queue.send("t1", "research")
    (msg,) = await q.queue.receive(1, wait_s=1)
    await q.queue.dead_letter(msg, "gave up after 3 attempts")
    assert q.dead_letters() == [("t1", "gave up after 3 attempts")]
    assert await q.queue.receive(1, wait_s=0) == []


async def test_receive_returns_at_most_the_number_asked_for(q: Fixture) -> None:
    for i in range(5):
        await q.queue.send(f"t{i}", "research")
    got = await q.queue.receive(2, wait_s=1)
    assert 1 <= len(got) <= 2


async def test_a_requeued_task_starts_over_and_never_reaches_the_dead_letter_queue(q: Fixture) -> None:
    await q.queue.send("t1", "research")
    for _ in range(MAX_RECEIVE_COUNT + 1):  # handed back more often than the queue allows receives
        (msg,) = await q.queue.receive(1, wait_s=1)
        assert (msg.task_id, msg.agent, msg.receive_count) == ("t1", "research", 1)
        await q.queue.requeue(msg)
    (last,) = await q.queue.receive(1, wait_s=1)
    assert last.receive_count == 1 and q.dead_letters() == []
    await q.queue.delete(last)
    assert await q.queue.receive(1, wait_s=0) == []  # requeued as one message, not one per give-back


async def test_a_requeue_can_wait(q: Fixture) -> None:
    await q.queue.send("t1", "research")
    (msg,) = await q.queue.receive(1, wait_s=1)
    await q.queue.requeue(msg, delay_s=1)
    assert await q.queue.receive(1, wait_s=0) == []
    (again,) = await q.queue.receive(1, wait_s=3)
    assert again.task_id == "t1" and again.receive_count == 1


async def test_released_messages_spend_receives_toward_the_dead_letter_queue(q: Fixture) -> None:
    await q.queue.send("t1", "research")
    (msg,) = await q.queue.receive(1, wait_s=1)
    await q.queue.release(msg, 0)
    (again,) = await q.queue.receive(1, wait_s=1)
    assert again.receive_count == MAX_RECEIVE_COUNT  # a failed attempt counts; requeue is for give-backs


async def test_extend_keeps_a_received_message_invisible(q: Fixture) -> None:
    queue = q.short()
    await queue.send("t1", "research")
    (msg,) = await queue.receive(1, wait_s=1)
    await asyncio.sleep(SHORT_VISIBILITY_S / 2)
    await queue.extend(msg)  # hidden for another full visibility from now
    await asyncio.sleep(SHORT_VISIBILITY_S * 0.75)  # past the first receive's visibility
    assert await queue.receive(1, wait_s=0) == []
    await queue.delete(msg)
