"""LambdaTool: the event it sends, results and errors mapped for the model (answers stubbed at the wire, under
the client's `before-send` event, so the request is the one the tool's light client really sends; real handler)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.response import StreamingBody
from botocore.retries.standard import ExponentialBackoff

from agent_runtime.errors import ToolError, ToolInputError, ToolTimeoutError
from agent_runtime.tools import LambdaTool
from agent_runtime.tools.base import Tool
from agent_runtime.tools.lambda_ import lambda_client_config, lambda_executor, make_lambda_client
from bench.lambda_endpoint import Endpoint
from lambda_tools.catalog import get_tool

SPEC = get_tool("classify_content")
ARGS = SPEC.input_model(text="bread and flour", categories=["cooking", "finance"],
                        descriptions={"cooking": "bread flour oven"})


def body(payload: Any) -> StreamingBody:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


@pytest.fixture
def client():
    return boto3.client("lambda", region_name="us-east-1", config=lambda_client_config(60))


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


class WireStub:
    """Answers the client's Invoke requests at the wire: each with the next queued (status, headers,
    body), the last one again when the queue runs out (a retry meets the same answer). Records the
    requests (method, URL, headers, body) as they were signed and sent."""

    def __init__(self, client: Any) -> None:
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.requests: list[Any] = []
        client.meta.events.register("before-send.lambda.Invoke", self)

    def reply(self, payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> WireStub:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.answers.append((status, headers or {}, raw))
        return self

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        self.requests.append(request)
        status, headers, raw = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return AWSResponse(request.url, status, headers, _Raw(raw))


def expected_payload(task_id: str = "task-1", call_id: str = "call-1") -> bytes:
    event = {"arguments": ARGS.model_dump(mode="json", exclude_none=True), "task_id": task_id, "call_id": call_id}
    return json.dumps(event, ensure_ascii=False).encode()


async def call(client) -> dict[str, Any]:
    return await LambdaTool(SPEC, "agents-classify-content", client=client).invoke(ARGS, task_id="task-1",
                                                                                  call_id="call-1")


async def test_sends_the_documented_event_and_returns_data(client) -> None:
    stub = WireStub(client).reply({"ok": True, "data": {"best": "cooking"}, "error": None})
    assert await call(client) == {"best": "cooking"}
    [request] = stub.requests
    assert request.method == "POST" and request.body == expected_payload()
    assert request.url == "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/agents-classify-content/invocations"
    assert request.headers["X-Amz-Invocation-Type"] == "RequestResponse"
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert "/us-east-1/lambda/aws4_request" in request.headers["Authorization"]
    assert isinstance(LambdaTool(SPEC, "f", client=client), Tool)


async def test_a_function_arn_is_sent_escaped_in_the_path(client) -> None:
    stub = WireStub(client).reply({"ok": True, "data": {}, "error": None})
    arn = "arn:aws:lambda:us-east-1:123456789012:function:agents-classify-content"
    await LambdaTool(SPEC, arn, client=client).invoke(ARGS, task_id="t", call_id="c")
    assert stub.requests[0].url.endswith(
        "/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aagents-classify-content/invocations")


async def test_ok_false_becomes_a_tool_error_with_the_message(client) -> None:
    WireStub(client).reply({"ok": False, "data": None, "error": {"type": "not_found", "message": "no document with id 'x'"}})
    with pytest.raises(ToolError, match="no document with id 'x'"):
        await call(client)


async def test_invalid_arguments_reply_is_a_tool_input_error(client) -> None:
    WireStub(client).reply({"ok": False, "data": None, "error": {"type": "invalid_arguments", "message": "limit: too big"}})
    with pytest.raises(ToolInputError, match="limit: too big"):
        await call(client)


async def test_function_error_is_a_tool_error(client) -> None:
    crash = {"errorMessage": "No module named 'pydantic'", "errorType": "Runtime.ImportModuleError"}
    WireStub(client).reply(crash, headers={"X-Amz-Function-Error": "Unhandled"})
    with pytest.raises(ToolError, match="classify_content crashed: Runtime.ImportModuleError: No module") as info:
        await call(client)
    assert not isinstance(info.value, ToolTimeoutError)


async def test_function_timeout_is_a_tool_timeout(client) -> None:
    timeout = {"errorMessage": "2024-01-01T00:00:00Z abc Task timed out after 15.02 seconds"}
    WireStub(client).reply(timeout, headers={"X-Amz-Function-Error": "Unhandled"})
    with pytest.raises(ToolTimeoutError, match="timed out inside Lambda"):
        await call(client)


async def test_throttling_is_a_retryable_tool_error_after_the_clients_retry(client, monkeypatch) -> None:
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.01)
    stub = WireStub(client).reply({"Type": "User", "message": "Rate exceeded"}, status=429,
                                  headers={"x-amzn-ErrorType": "TooManyRequestsException"})
    with pytest.raises(ToolError, match="TooManyRequestsException: Rate exceeded") as info:
        await call(client)
    assert info.value.retryable
    assert len(stub.requests) == 2  # the client's configured retry, then the error


async def test_a_throttled_call_that_succeeds_on_its_retry_returns_the_data(client, monkeypatch) -> None:
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.01)
    stub = WireStub(client).reply({"message": "Rate exceeded"}, status=429,
                                  headers={"x-amzn-ErrorType": "TooManyRequestsException"})
    stub.reply({"ok": True, "data": {"best": "cooking"}, "error": None})
    assert await call(client) == {"best": "cooking"}
    assert len(stub.requests) == 2


async def test_client_read_timeout_is_a_tool_timeout_after_one_retry() -> None:
    client = make_lambda_client(60, region_name="us-east-1")
    attempts: list[int] = []

    def never_answers(request, **kwargs):
        attempts.append(1)
        raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register("before-send.lambda.Invoke", never_answers)
    with pytest.raises(ToolTimeoutError, match="did not answer in time"):
        await call(client)
    assert len(attempts) == 2  # the configured retry, then the error


def test_client_config_outlasts_the_slowest_tool() -> None:
    config = lambda_client_config(60)
    assert config.read_timeout > 60 and config.connect_timeout <= 10
    assert config.retries == {"total_max_attempts": 2, "mode": "standard"}


class HandlerBackedLambda:
    """A Lambda client that runs the real handler in-process: checks LambdaTool and the handler agree."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        tool = FunctionName.removeprefix("agents-").replace("-", "_")
        from importlib import import_module

        result = import_module(f"lambda_tools.{tool}.handler").handler(json.loads(Payload), self.context)
        return {"StatusCode": 200, "Payload": body(result)}


async def test_round_trip_through_the_real_handler(lambda_context) -> None:
    tool = LambdaTool(SPEC, "agents-classify-content", client=HandlerBackedLambda(lambda_context))
    data = await tool.invoke(ARGS, task_id="t", call_id="c")
    assert data["best"] == "cooking"
    extract = get_tool("extract_entities")
    data = await LambdaTool(extract, "agents-extract-entities", client=HandlerBackedLambda(lambda_context)).invoke(
        extract.input_model(text="Revenue rose 5% to $3 million."), task_id="t", call_id="c")
    assert {e["type"] for e in data["entities"]} == {"percent", "money"}


async def test_concurrent_calls_do_not_queue_behind_a_thread_pool(caplog: pytest.LogCaptureFixture) -> None:
    """40 calls (asyncio's default executor has min(32, CPUs + 4) threads) to a real HTTP endpoint
    answering in 500 ms: all 40 are in flight at once, together take about one latency, and every
    connection goes back to the pool (urllib3 opens extra ones past the pool size, and drops them).

    Queued on any default executor, they would take two latencies or more; the latency is long
    enough that the calls' own CPU time fits in the other half even on a loaded machine."""
    calls, latency_s = 40, 0.5
    endpoint = Endpoint(latency_s)
    url = await endpoint.start()
    try:
        client = make_lambda_client(60, max_calls=calls, endpoint_url=url, region_name="us-east-1",
                                    aws_access_key_id="test", aws_secret_access_key="test")
        tool = LambdaTool(SPEC, "agents-classify-content", client=client, max_calls=calls)
        await tool.invoke(ARGS, task_id="warm-up", call_id="c")  # the client's first-call setup, not measured
        started = time.perf_counter()
        results = await asyncio.gather(*(tool.invoke(ARGS, task_id="t", call_id=f"c{i}") for i in range(calls)))
        elapsed = time.perf_counter() - started
    finally:
        await endpoint.aclose()
    assert [r["call_id"] for r in results] == [f"c{i}" for i in range(calls)]
    assert endpoint.peak_in_flight == calls
    assert elapsed < 2 * latency_s
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_client_pool_and_executor_are_sized_for_the_calls_in_flight() -> None:
    assert lambda_client_config(60, max_calls=300).max_pool_connections == 300
    assert lambda_executor(300)._max_workers >= 300
    assert lambda_executor(1) is lambda_executor(300)  # one executor per process, never shrunk


@pytest.mark.parametrize("tool_name, waits", [("publish_report", True), ("classify_content", False)])
async def test_a_cancelled_call_of_a_writing_tool_ends_before_the_cancel_returns(tool_name: str, waits: bool) -> None:
    """An invocation cannot be called back: cancelling a call of a tool that writes returns only once the
    function has answered (nothing is written after the cancel is confirmed); a reading tool's call is dropped
    at once. Calls are made on the event loop here (the light client over a real HTTP endpoint)."""
    latency_s = 0.6
    endpoint = Endpoint(latency_s)
    url = await endpoint.start()
    try:
        client = make_lambda_client(60, endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                                    aws_secret_access_key="test")
        spec = get_tool(tool_name)
        args = spec.input_model.model_construct()  # not sent to a handler: the endpoint answers any payload
        tool = LambdaTool(spec, f"agents-{tool_name}", client=client)
        started = time.perf_counter()
        call = asyncio.create_task(tool.invoke(args, task_id="t", call_id="c"))
        await asyncio.sleep(0.2)
        assert endpoint.in_flight == 1
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        elapsed = time.perf_counter() - started
    finally:
        await endpoint.aclose()
    assert (elapsed >= latency_s) is waits
