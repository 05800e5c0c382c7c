"""The task queue on Amazon SQS, with the dead-letter queue from the queue's redrive policy.

Calls run on a small thread pool of their own, so a long poll never takes a thread the
store needs; they go through the boto3 client's light client (`agent_runtime.aws_light`).
AWS_ENDPOINT_URL and the region come from the environment through boto3's standard handling.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from agent_runtime.aws_light import light_client
from agent_runtime.queue.base import QueueMessage
from agent_runtime.settings import DEFAULT_QUEUE_VISIBILITY_S, MAX_QUEUE_VISIBILITY_S

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_DELAY_S = 15 * 60  # SQS's limit on a message's delay


class SqsQueue:
    """`TaskQueue` on one SQS queue. Bodies are JSON `{"task_id", "agent"}`."""

    def __init__(
        self, queue_url: str, *, client: Any = None, visibility_s: float = DEFAULT_QUEUE_VISIBILITY_S, dead_letter_url: str | None = None
    ) -> None:
        if not queue_url:
            raise ValueError("SqsQueue needs a queue URL")
        if not 1 <= visibility_s <= MAX_QUEUE_VISIBILITY_S:
            raise ValueError(f"visibility_s must be within 1..{MAX_QUEUE_VISIBILITY_S} seconds")
        self.url = queue_url
        self.visibility_s = visibility_s
        self.client = client or boto3.client("sqs", config=Config(max_pool_connections=8, retries={"mode": "standard"}))
        # Calls go through the light client: the client's endpoint, credentials and retries, a third of its CPU.
        self.api = light_client(self.client)
        self._dead_letter_url = dead_letter_url
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sqs-queue")

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    async def send(self, task_id: str, agent: str) -> None:
        await self._run(self.api.send_message, QueueUrl=self.url,
                        MessageBody=json.dumps({"task_id": task_id, "agent": agent}))

    async def receive(self, max_messages: int, wait_s: float) -> list[QueueMessage]:
        poll = self._executor.submit(
            self.api.receive_message, QueueUrl=self.url, MaxNumberOfMessages=max(1, min(10, max_messages)),
            WaitTimeSeconds=max(0, min(20, int(wait_s))), VisibilityTimeout=int(self.visibility_s),
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        try:
            out = await asyncio.wrap_future(poll)
        except asyncio.CancelledError:
            # A stopping worker cancels its receive, but the long poll goes on in its thread: whatever it
            # still takes would stay hidden for visibility_s with nobody to run it (even the task the
            # worker has just handed back). Give it straight back, unspent, when the poll returns.
            poll.add_done_callback(self._requeue_unclaimed)
            raise
        messages = []
        for raw in out.get("Messages", []):
            count = int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            try:
                body = json.loads(raw["Body"])
                msg = QueueMessage(str(body["task_id"]), str(body["agent"]), count, handle=raw["ReceiptHandle"])
            except (ValueError, KeyError, TypeError):
                log.warning("malformed queue message moved to the dead-letter queue", extra={"body": raw["Body"][:200]})
                bad = QueueMessage("", "", count, handle=raw["ReceiptHandle"])
                await self._dead_letter_raw(bad, raw["Body"], "malformed message body")
                continue
            messages.append(msg)
        return messages

    async def extend(self, message: QueueMessage) -> None:
        await self._run(self.api.change_message_visibility, QueueUrl=self.url, ReceiptHandle=message.handle,
                        VisibilityTimeout=int(self.visibility_s))

    async def delete(self, message: QueueMessage) -> None:
        await self._run(self.api.delete_message, QueueUrl=self.url, ReceiptHandle=message.handle)

    async def release(self, message: QueueMessage, delay_s: float = 0.0) -> None:
        await self._run(self.api.change_message_visibility, QueueUrl=self.url, ReceiptHandle=message.handle,
                        VisibilityTimeout=max(0, min(MAX_QUEUE_VISIBILITY_S, int(delay_s))))

    async def requeue(self, message: QueueMessage, delay_s: float = 0.0) -> None:
        # SQS counts every receive of a message toward the redrive policy's maxReceiveCount, and a
        # released message keeps its count; a new message starts from zero. A delay beyond SQS's
        # limit is cut to it: the task is received early and, if still leased, put back again.
        body = json.dumps({"task_id": message.task_id, "agent": message.agent})
        await self._run(self.api.send_message, QueueUrl=self.url, MessageBody=body,
                        DelaySeconds=max(0, min(MAX_DELAY_S, int(delay_s))))
        await self._run(self.api.delete_message, QueueUrl=self.url, ReceiptHandle=message.handle)

    def _requeue_unclaimed(self, poll: Future[Any]) -> None:
        """Put back, as fresh messages, what a receive nobody awaits any more took (runs in its thread)."""
        if poll.cancelled() or poll.exception() is not None:
            return
        for raw in poll.result().get("Messages", []):
            try:
                self.api.send_message(QueueUrl=self.url, MessageBody=raw["Body"])
                self.api.delete_message(QueueUrl=self.url, ReceiptHandle=raw["ReceiptHandle"])
            except Exception:  # it reappears after its visibility timeout instead
                log.warning("could not give back a message received while stopping", exc_info=True)

    async def dead_letter(self, message: QueueMessage, reason: str) -> None:
        body = json.dumps({"task_id": message.task_id, "agent": message.agent})
        await self._dead_letter_raw(message, body, reason)

    async def _dead_letter_raw(self, message: QueueMessage, body: str, reason: str) -> None:
        url = await self._run(self._find_dead_letter_url)
        if url is not None:
            await self._run(
                self.api.send_message, QueueUrl=url, MessageBody=body,
                MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
            )
        else:
            log.error("no dead-letter queue configured; dropping message", extra={"reason": reason})
        await self._run(self.api.delete_message, QueueUrl=self.url, ReceiptHandle=message.handle)

    def _find_dead_letter_url(self) -> str | None:
        if self._dead_letter_url is None:
            attrs = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=["RedrivePolicy"])
            policy = attrs.get("Attributes", {}).get("RedrivePolicy")
            if not policy:
                return None
            arn = json.loads(policy)["deadLetterTargetArn"]  # arn:aws:sqs:region:account:name
            _, _, _, _, account, name = arn.split(":", 5)
            self._dead_letter_url = self.client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        return self._dead_letter_url

    async def close(self) -> None:
        # Waits for a receive a stopping worker cancelled: its long poll may still take a message (the
        # task just handed back, even), which its callback gives back; a process that exits first leaves
        # that message in flight, hidden for visibility_s and delivered again later as a duplicate.
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
