"""Fixtures for the tool functions: a small corpus with known answers, a fake Lambda context, moto AWS."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambda_tools import lambda_handler
from lambda_tools.backends import FolderDocuments, FolderReports
from lambda_tools.search_documents.index import clear_cache
from lambda_tools.spec import ToolContext

CORPUS = {
    "asyncio/tasks.md": """# Asyncio tasks and coroutines

A coroutine is declared with `async def`. Wrapping a coroutine in a task with `asyncio.create_task()`
schedules it on the event loop so that it runs concurrently with other tasks. Awaiting the task
returns its result. Tasks can be cancelled, and `asyncio.gather()` waits for several tasks at once.
""",
    "asyncio/blocking.md": """# Running blocking code

Blocking calls such as `time.sleep()` or a slow file read stall the event loop: no other coroutine
runs until they return. Run blocking functions in a worker thread with `asyncio.to_thread()` or
`loop.run_in_executor()`, so the event loop keeps serving other tasks while the thread waits.
""",
    "asyncio/event-loop.md": """# The event loop

The event loop runs tasks and callbacks, performs network IO and runs subprocesses.
`asyncio.run()` creates a new event loop, runs a coroutine until it completes, and closes the loop.
""",
    "python/gil.md": """# The global interpreter lock

CPython's global interpreter lock (GIL) lets only one thread execute Python bytecode at a time.
CPU-bound work therefore does not speed up with threads; use processes instead.
""",
    "cooking/sourdough.txt": """Sourdough bread

Mix flour, water and salt with an active starter. Let the dough rise overnight, shape the loaf
and bake it in a hot Dutch oven for a crisp crust.
""",
    "data/sales.csv": "month,region,revenue\n2024-01,north,100\n2024-02,north,120\n2024-03,south,90\n",
}


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_cache()
    lambda_handler.reset()
    yield
    clear_cache()
    lambda_handler.reset()


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    for relative, text in CORPUS.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def ctx(corpus_dir: Path, tmp_path: Path) -> ToolContext:
    return ToolContext(
        task_id="task-1", call_id="call-1", documents=FolderDocuments(corpus_dir),
        reports=FolderReports(tmp_path / "reports"),
    )


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object that Powertools and the handlers read."""

    function_name: str = "agent-platform-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:agent-platform-test"
    aws_request_id: str = "req-0001"
    log_group_name: str = "/aws/lambda/agent-platform-test"
    log_stream_name: str = "2024/01/01/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@dataclass
class Aws:
    s3: Any
    sns: Any
    sqs: Any
    documents_bucket: str
    reports_bucket: str
    topic_arn: str
    queue_url: str


@pytest.fixture
def aws() -> Iterator[Aws]:
    """moto S3 buckets, an SNS topic and an SQS queue subscribed to it (to read notifications back)."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        s3.create_bucket(Bucket="docs-bucket")
        s3.create_bucket(Bucket="reports-bucket")
        topic_arn = sns.create_topic(Name="reports")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="report-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "true"})
        yield Aws(s3, sns, sqs, "docs-bucket", "reports-bucket", topic_arn, queue_url)


@pytest.fixture
def log_stream(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the Powertools logger writes (its handler keeps the stdout it saw at import)."""
    stream = io.StringIO()
    monkeypatch.setattr(lambda_handler.logger.registered_handler, "stream", stream)
    return stream


def log_records(stream: io.StringIO) -> list[dict[str, Any]]:
    """The JSON lines the logger wrote to `log_stream`."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]
