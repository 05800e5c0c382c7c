"""DynamoDB faults, injected and survived (docs/runtime.md, Faults): throttling
(ProvisionedThroughputExceededException) on moto through a botocore `before-send` hook, so the client's
own retries run as they would against AWS; a task run by the worker on a throttled table still ends
once, with gap-free events; throttling that outlasts the retries is a `StoreError` (the API's 503)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.retries.standard import ExponentialBackoff
from moto import mock_aws

from agent_runtime.agents import RESEARCH
from agent_runtime.errors import StoreError
from agent_runtime.queue.local import LocalQueue
from agent_runtime.store.base import TaskRecord
from agent_runtime.store.dynamodb import DynamoStore, create_table
from agent_runtime.worker import AgentRuntime, Worker
from tests.api.support import SCRIPTS, make_tools, wait_until
from tests.fakes.scripted_model import ScriptedModel
from tests.test_worker import running


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name, b"")
    return value.decode() if isinstance(value, bytes) else value


class Throttle:
    """Answers every `every`-th write's first attempt (its retries go through), and every attempt of the
    next `burst` writes, with a throttling error.

    `every` counts first attempts only (botocore's `amz-sdk-request: attempt=N` header): with tasks writing
    from several threads, counting retries too would let another thread's writes push a retry onto a
    throttled slot again, until a write runs out of retries by chance."""

    WRITES = ("UpdateItem", "PutItem", "TransactWriteItems", "BatchWriteItem")

    def __init__(self, every: int = 0) -> None:
        self.every, self.burst, self.writes, self.injected = every, 0, 0, 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if _header(request, "X-Amz-Target").rsplit(".", 1)[-1] not in self.WRITES:
            return None
        first_attempt = _header(request, "amz-sdk-request").startswith("attempt=1;")
        self.writes += first_attempt
        if self.burst > 0 or (self.every and first_attempt and self.writes % self.every == 0):
            self.burst = max(0, self.burst - 1)
            self.injected += 1
            url = request.url
            request.url = "https://throttled.invalid/"  # moto's own before-send handler then leaves it alone
            body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                               "message": "The level of configured provisioned throughput for the table was exceeded."})
            return AWSResponse(url, 400, {"x-amzn-ErrorType": "ProvisionedThroughputExceededException"},
                               _Raw(body.encode()))
        return None


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Throttle]]:
    # botocore's retry count and decisions stay; only its jittered backoff (up to seconds) is shortened.
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.01)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", config=Config(
            retries={"mode": "standard"}))  # as the store's own client: standard mode
        create_table(client, "platform")
        throttle = Throttle()
        client.meta.events.register_first("before-send.dynamodb", throttle)  # before moto's handler
        yield client, throttle


async def test_a_throttled_table_still_runs_each_task_once_with_gap_free_events(table: tuple[Any, Throttle]) -> None:
    client, throttle = table
    store, queue, tools = DynamoStore("platform", client=client), LocalQueue(), make_tools()
    runtimes = {"research": AgentRuntime(RESEARCH, ScriptedModel(SCRIPTS), tools)}  # type: ignore[arg-type]
    throttle.every = 4  # a quarter of all writes is throttled once (the retry goes through)
    for i in range(3):
        await store.create_task(TaskRecord(task_id=f"research-{i}", agent="research", input="hello"))
        await queue.send(f"research-{i}", "research")
    async with running(Worker(store=store, queue=queue, runtimes=runtimes, poll_s=0.05, receive_wait_s=0.2)):
        async def all_ended() -> bool:
            return all([(await store.get_task(f"research-{i}")).terminal for i in range(3)])

        await wait_until(all_ended, 20)
    assert throttle.injected >= 4
    for i in range(3):
        task = await store.get_task(f"research-{i}")
        events = await store.list_events(task.task_id)
        assert task.state == "succeeded" and task.attempts == 1
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [e.type for e in events].count("tool.started") == 1 and tools["echo"].started(task.task_id) != []
    assert sum(len(t.started(f"research-{i}")) for t in tools.values() for i in range(3)) == 3  # each call once
    await store.close()


async def test_throttling_past_the_retries_is_a_store_error(table: tuple[Any, Throttle]) -> None:
    client, throttle = table
    store = DynamoStore("platform", client=client)
    await store.create_task(TaskRecord(task_id="research-1", agent="research", input="hello"))
    throttle.burst = 4  # every attempt of the next write (botocore gives DynamoDB 4 in standard mode)
    with pytest.raises(StoreError, match="DynamoDB ProvisionedThroughputExceededException"):
        await store.request_cancel("research-1")
    assert not (await store.get_task("research-1")).cancel_requested
    throttle.burst = 3  # three attempts throttled, the fourth goes through
    assert (await store.request_cancel("research-1")).cancel_requested
    await store.close()


async def test_a_write_that_outlasts_the_retries_mid_task_ends_the_attempt_and_the_next_one_resumes(
        table: tuple[Any, Throttle]) -> None:
    client, throttle = table
    store, queue, tools = DynamoStore("platform", client=client), LocalQueue(), make_tools()
    echo = tools["echo"]
    invoke = echo.invoke

    async def invoke_then_throttle(args: Any, *, task_id: str, call_id: str) -> dict[str, Any]:
        result = await invoke(args, task_id=task_id, call_id=call_id)
        if len(echo.started(task_id)) == 1:
            throttle.burst = 4  # every attempt of the next write (the call's result) is throttled
        return result

    echo.invoke = invoke_then_throttle  # type: ignore[method-assign]
    runtimes = {"research": AgentRuntime(RESEARCH, ScriptedModel(SCRIPTS), tools)}  # type: ignore[arg-type]
    await store.create_task(TaskRecord(task_id="research-1", agent="research", input="hello"))
    await queue.send("research-1", "research")
    async with running(Worker(store=store, queue=queue, runtimes=runtimes, poll_s=0.05, receive_wait_s=0.2)):
        async def ended() -> bool:
            return (await store.get_task("research-1")).terminal

        await wait_until(ended, 20)
    task = await store.get_task("research-1")
    events = await store.list_events("research-1")
    assert task.state == "succeeded" and task.attempts == 2
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    # The call's result never landed, so the resumed attempt runs the call again, marked as a retry.
    data = [(e.type, json.loads(e.data)) for e in events]
    assert [(t, d.get("resumed", d.get("retry"))) for t, d in data] == [
        ("task.started", False), ("model.turn", None), ("tool.started", False),
        ("task.started", True), ("tool.started", True), ("tool.finished", None), ("model.turn", None),
        ("task.finished", None)]
    assert len(echo.started("research-1")) == 2 and throttle.injected == 4
    await store.close()
