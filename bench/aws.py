"""What the deployed-path benchmarks share: moto in server mode in its own process, the table and
queue the stacks would create, dummy credentials, and a count of boto3 calls by service and action.

moto runs in a child process (`bench.moto_keepalive`), so the CPU it spends answering never
counts against the runtime's process.
"""

from __future__ import annotations

import contextlib
import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

from bench.common import child_server

REGION = "us-east-1"
TABLE = "bench-platform"
QUEUE = "bench-research"
# Dummy credentials: moto accepts any; they keep boto3 from looking for real ones.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION}


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto (DynamoDB, SQS, ...) in server mode in a child process, with keep-alive
    (`bench.moto_keepalive`); yields its URL. Terminated on exit."""
    with child_server("bench.moto_keepalive", what="the moto server") as url:
        yield url


def client(service: str, endpoint_url: str, **kwargs: Any) -> Any:
    """A boto3 client for `service` at `endpoint_url` with the dummy credentials."""
    import boto3

    return boto3.client(service, endpoint_url=endpoint_url, region_name=REGION,
                        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], **kwargs)


def create_resources(moto_url: str) -> tuple[str, str]:
    """The store's table and the task queue (with its dead-letter queue) as the stacks create them;
    returns (table name, queue URL)."""
    import json

    from agent_runtime.store.dynamodb import create_table

    create_table(client("dynamodb", moto_url), TABLE)
    sqs = client("sqs", moto_url)
    dlq = sqs.create_queue(QueueName=f"{QUEUE}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName=QUEUE, Attributes={
        "VisibilityTimeout": "30", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
    })["QueueUrl"]
    return TABLE, queue


class AwsCalls:
    """Counts the calls of the boto3 clients it watches, by `service.Action`, while `counting` is on:
    those made through the client (a botocore `before-call` hook) and those made through its light
    client (`agent_runtime.aws_light`, a listener). Each runs once per API call (not per retry of it),
    in the thread that makes the call.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.counting = False

    def watch(self, *clients: Any) -> None:
        """Count the calls these clients make from now on."""
        from agent_runtime.aws_light import light_client

        for c in clients:
            c.meta.events.register("before-call", self._count)
            light_client(c).listeners.append(self._count_light)

    def _count(self, model: Any, **_: Any) -> None:
        if self.counting:
            self.counts[f"{model.service_model.service_name}.{model.name}"] += 1

    def _count_light(self, service: str, operation: str) -> None:
        if self.counting:
            self.counts[f"{service}.{operation}"] += 1

    def per(self, units: int) -> dict[str, float]:
        """The counts divided by `units` (steps), largest first."""
        return {k: round(v / units, 3) for k, v in self.counts.most_common()}
