"""Queue faults, injected and survived (docs/runtime.md, Faults): SQS (moto) delivering the same task
twice, to two workers at once and again after the task ended. The lease decides who runs it: the task
runs once, its tool once, its events once; the spare deliveries are deleted, not dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from agent_runtime.queue.sqs import SqsQueue
from tests.test_worker import Rig, running


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    with mock_aws():
        r = Rig(tmp_path)
        sqs = boto3.client("sqs", region_name="us-east-1")
        r.queue = SqsQueue(sqs.create_queue(QueueName="tasks")["QueueUrl"], client=sqs,  # type: ignore[assignment]
                           visibility_s=30)
        yield r
        await r.queue.close()
        await r.store.close()


async def test_a_message_delivered_twice_runs_the_task_once(rig: Rig) -> None:
    task_id = await rig.submit("crash")  # echo, a 1 s slow call, an answer
    await rig.queue.send(task_id, "research")  # the same task's second message (at-least-once delivery)
    async with running(rig.worker(receive_wait_s=0.2)), running(rig.worker(receive_wait_s=0.2)):
        task = await rig.done(task_id)
        await rig.queue.send(task_id, "research")  # a third delivery, after the end
        await asyncio.sleep(1.0)
    assert task.state == "succeeded" and task.attempts == 1
    assert rig.tools["echo"].started(task_id) == ["call_0_0"] and rig.tools["slow"].started(task_id) == ["call_1_0"]
    types = await rig.types(task_id)
    assert types.count("task.started") == 1 and types[-1] == "task.finished"
    assert (await rig.queue.receive(max_messages=10, wait_s=0)) == []  # no copy visible to run it again
