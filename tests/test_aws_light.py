"""The light AWS client (`agent_runtime.aws_light`, `agent_runtime.aws_http`): signatures equal to
botocore's, errors and retries as boto3 gives them, kept connections that survive the server closing
them, chunked answers. The store, queue and Lambda tool tests run every call through it on moto; the
rehearsal runs it against moto's server with IAM (and signature) checks on."""

from __future__ import annotations

import datetime
import json
import socket
import uuid
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.retries.standard import ExponentialBackoff

from agent_runtime.aws_http import KeptConnections
from agent_runtime.aws_light import LightClient, light_client, sign_v4
from agent_runtime.errors import ConfigurationError
from tests.aws_server import Server, ok, server_fixture  # noqa: F401  # (the `server` fixture)

WHEN = datetime.datetime(2026, 12, 1, 12, 0, 0)


@pytest.mark.parametrize("token", [None, "session-token"])
@pytest.mark.parametrize("url, headers", [
    ("http://127.0.0.1:4566/", {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"}),
    ("https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A1%3Afunction%3Ax"
     "/invocations", {"X-Amz-Invocation-Type": "RequestResponse", "Content-Type": "application/octet-stream"}),
])
def test_the_signature_is_botocores(url: str, headers: dict[str, str], token: str | None) -> None:
    credentials = Credentials("AKIDEXAMPLE", "secret/key", token)
    body = b'{"TableName":"t","Key":{"pk":{"S":"x"}}}'
    request = AWSRequest("POST", url, headers=dict(headers), data=body)
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN):
        SigV4Auth(credentials, "svc", "eu-west-1").add_auth(request)
    ours = sign_v4(dict(headers), url, body, credentials, "svc", "eu-west-1", WHEN)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


def test_a_changed_body_changes_the_signature() -> None:
    credentials = Credentials("AKIDEXAMPLE", "secret")
    one = sign_v4({}, "http://localhost/", b"a", credentials, "dynamodb", "us-east-1", WHEN)
    two = sign_v4({}, "http://localhost/", b"b", credentials, "dynamodb", "us-east-1", WHEN)
    assert one["Authorization"] != two["Authorization"]


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def _dynamodb(**config: Any) -> Any:
    return boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b",
                        endpoint_url="http://127.0.0.1:9", config=Config(retries={"mode": "standard"}, **config))


def test_an_error_is_the_modeled_client_error_boto3_raises() -> None:
    client = _dynamodb()
    body = {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException", "Message": "cancelled",
            "CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "failed"}]}
    client.meta.events.register("before-send.dynamodb", lambda request, **_: AWSResponse(
        request.url, 400, {}, _Raw(json.dumps(body).encode())))
    with pytest.raises(client.exceptions.TransactionCanceledException) as info:
        light_client(client).transact_write_items(TransactItems=[])
    assert info.value.response["Error"] == {"Code": "TransactionCanceledException", "Message": "cancelled"}
    assert [r["Code"] for r in info.value.response["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]


def test_throttling_is_retried_by_botocores_handler_then_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    client = _dynamodb()
    sent: list[bytes] = []

    def throttled(request: Any, **_: Any) -> AWSResponse:
        sent.append(request.body)
        return AWSResponse(request.url, 400, {"x-amzn-ErrorType": "ProvisionedThroughputExceededException:"},
                           _Raw(b"{}"))

    client.meta.events.register("before-send.dynamodb", throttled)
    with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
        light_client(client).get_item(TableName="t", Key={"pk": {"S": "x"}})
    assert len(sent) == 4  # botocore's standard mode gives DynamoDB four attempts
    assert json.loads(sent[0]) == {"TableName": "t", "Key": {"pk": {"S": "x"}}}


def test_an_sqs_error_is_the_one_boto3_raises() -> None:
    client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b",
                          endpoint_url="http://127.0.0.1:9")
    client.meta.events.register("before-send.sqs", lambda request, **_: AWSResponse(
        request.url, 400, {"x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender"},
        _Raw(b'{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "no such queue"}')))
    errors = []
    for api in (client, light_client(client)):
        with pytest.raises(ClientError) as info:
            api.send_message(QueueUrl="http://127.0.0.1:9/1/q", MessageBody="x")
        errors.append((type(info.value), info.value.response["Error"]))
    assert errors[0] == errors[1]
    assert errors[1][1]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


def test_one_light_client_per_client_and_none_for_a_wrapper() -> None:
    client = _dynamodb()
    assert light_client(client) is light_client(client) and isinstance(light_client(client), LightClient)
    wrapper = object()
    assert light_client(wrapper) is wrapper


async def test_the_boto3_transport_setting_sends_every_call_through_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    """The switch back, should the light transport misbehave against an endpoint: the same store, on boto3."""
    from moto import mock_aws

    from agent_runtime.store.base import TaskRecord
    from agent_runtime.store.dynamodb import DynamoStore, create_table

    monkeypatch.setenv("AGENT_PLATFORM_AWS_TRANSPORT", "boto3")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "platform")
        store = DynamoStore("platform", client=client)
        assert store.api is client and not isinstance(light_client(_dynamodb()), LightClient)
        await store.create_task(TaskRecord(task_id="research-1", agent="research", input="hello"))
        assert (await store.get_task("research-1")).input == "hello"
        await store.close()
    monkeypatch.setenv("AGENT_PLATFORM_AWS_TRANSPORT", "fast")
    with pytest.raises(ConfigurationError, match="AGENT_PLATFORM_AWS_TRANSPORT must be light or boto3, not 'fast'"):
        light_client(_dynamodb())


def test_a_kept_connection_serves_many_requests_and_reopens_once_closed(server: Server) -> None:
    kept = KeptConnections(server.url, connect_timeout=1, read_timeout=2)
    server.answers = [(ok(b"one"), False), (ok(b"two"), True), (ok(b"three"), False)]
    assert kept.send("POST", server.url + "/", {}, b"1").content == b"one"
    assert kept.send("POST", server.url + "/", {}, b"2").content == b"two"  # the server closes after it
    assert kept.send("POST", server.url + "/", {}, b"3").content == b"three"  # sent again on a new connection
    assert server.connections == 2


def test_a_chunked_answer_is_read_whole(server: Server) -> None:
    kept = KeptConnections(server.url, connect_timeout=1, read_timeout=2)
    server.answers = [(b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nX-Amzn-ErrorType: Boom\r\n\r\n"
                       b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n", False), (ok(b"next"), False)]
    answer = kept.send("POST", server.url + "/", {}, b"")
    assert answer.status_code == 400 and answer.content == b'{"a":1}'
    assert answer.headers["x-amzn-errortype"] == "Boom" and answer.headers.get("X-Amzn-ErrorType") == "Boom"
    assert kept.send("POST", server.url + "/", {}, b"").content == b"next" and server.connections == 1


def test_nothing_listening_is_botocores_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kept = KeptConnections(f"http://127.0.0.1:{port}", connect_timeout=1, read_timeout=1)
    with pytest.raises(EndpointConnectionError):
        kept.send("POST", f"http://127.0.0.1:{port}/", {}, b"")


def test_attempts_carry_botocores_sdk_headers_and_before_sign_hooks_add_signed_headers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What hooks on the client see as for boto3: `amz-sdk-request: attempt=N; max=M` (a fault injector
    counts first attempts by it) and `before-sign` (the Lambda tool's trace header is added there)."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    client = _dynamodb()
    seen: list[Any] = []

    def add_header(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = "Root=1-abc"

    def answer(request: Any, **_: Any) -> AWSResponse:
        seen.append(request)
        if len(seen) == 1:
            return AWSResponse(request.url, 500, {}, _Raw(b'{"__type": "InternalServerError"}'))
        return AWSResponse(request.url, 200, {}, _Raw(b"{}"))

    client.meta.events.register("before-sign.dynamodb.GetItem", add_header)
    client.meta.events.register("before-send.dynamodb", answer)
    light_client(client).get_item(TableName="t", Key={"pk": {"S": "x"}})
    assert [r.headers["amz-sdk-request"] for r in seen] == ["attempt=1; max=4", "attempt=2; max=4"]
    assert seen[0].headers["amz-sdk-invocation-id"] == seen[1].headers["amz-sdk-invocation-id"]
    assert uuid.UUID(seen[0].headers["amz-sdk-invocation-id"]).version == 4  # as botocore sends it
    assert seen[1].headers["X-Amzn-Trace-Id"] == "Root=1-abc"
    assert "x-amzn-trace-id" in seen[1].headers["Authorization"].split("SignedHeaders=")[1]
