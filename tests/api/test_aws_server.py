"""The server in its AWS configuration - DynamoDB store, SQS queue with a dead-letter queue, API keys from
Secrets Manager, one agent - chosen by the environment the ECS task definition sets, runs a real task end to
end against moto in server mode over real HTTP (AWS_ENDPOINT_URL), with the offline model and in-process
tools: the cloud wiring works without an AWS account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from httpx_sse import connect_sse
from moto.server import ThreadedMotoServer

from agent_runtime import envnames as env
from agent_runtime.server import create_platform
from agent_runtime.settings import load_settings
from agent_runtime.store.dynamodb import create_table
from tests.api.support import ServerThread, free_port

DOCS = {
    "asyncio-tasks.md": "# asyncio tasks\n\nA Task wraps a coroutine and schedules it on the event loop. "
                        "asyncio.create_task() starts a coroutine concurrently; await the task to get its result. "
                        "Blocking code belongs in asyncio.to_thread() so it does not stall the event loop.\n",
    "cooking.md": "# Bread\n\nFlour, water, salt and yeast; knead, rest, bake.\n",
}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_a_task_runs_end_to_end_on_dynamodb_sqs_and_secrets_manager(
    moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    dynamodb, sqs, secrets = (boto3.client(s) for s in ("dynamodb", "sqs", "secretsmanager"))
    create_table(dynamodb, "agent-platform")
    dlq = sqs.create_queue(QueueName="research-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="research", Attributes={
        "VisibilityTimeout": "300",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
    })["QueueUrl"]
    secrets.create_secret(Name="agents/api-keys", SecretString="old-key,cloud-key-1234")
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    for name, value in {
        env.AGENT_NAME: "research", env.STORE: "dynamodb", env.QUEUE: "sqs", env.TABLE_NAME: "agent-platform",
        env.QUEUE_URL: queue, env.API_KEYS_SECRET: "agents/api-keys", env.MODEL: "offline",
        env.DOCS_DIR: str(docs), env.WORKER_CONCURRENCY: "4",
    }.items():
        monkeypatch.setenv(name, value)

    platform = create_platform(load_settings(), poll_s=0.2)
    assert list(platform.runtimes) == ["research"] and platform.key_file is None
    platform.worker.receive_wait_s = 1.0  # shorter long polls so the test stops quickly
    with ServerThread(platform.app) as server, httpx.Client(
        base_url=server.url, headers={"Authorization": "Bearer cloud-key-1234"}, timeout=30
    ) as client:
        assert client.get("/v1/agents", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.get("/healthz").json()["agents"] == ["research"]  # this service runs one agent
        assert [a["name"] for a in client.get("/v1/agents").json()["agents"]] == ["analysis", "content", "research"]
        assert client.post("/v1/agents/content/tasks", json={"input": "x"}).status_code == 404

        r = client.post("/v1/agents/research/tasks", json={"input": "How do asyncio tasks work?"})
        assert r.status_code == 202, r.text
        task_id = r.json()["task_id"]
        with connect_sse(client, "GET", f"/v1/agents/research/tasks/{task_id}/events") as source:
            events = [(int(s.id), s.event, json.loads(s.data)) for s in source.iter_sse()]
        task = client.get(f"/v1/agents/research/tasks/{task_id}").json()

    assert [e[0] for e in events] == list(range(1, len(events) + 1))
    assert events[0][1] == "task.started" and events[0][2]["offline"]
    assert "search_documents" in [e[2]["tool"] for e in events if e[1] == "tool.started"]
    assert events[-1][1] == "task.finished" and task["state"] == "succeeded"
    assert "[asyncio-tasks" in task["answer"] and task["steps"] >= 2
    # the message was deleted when the task ended; nothing went to the dead-letter queue
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq)
    # every item of the task carries its TTL
    items = dynamodb.query(TableName="agent-platform", KeyConditionExpression="pk = :pk",
                           ExpressionAttributeValues={":pk": {"S": task_id}})["Items"]
    assert len(items) > len(events) and all("expires_at" in i for i in items)
