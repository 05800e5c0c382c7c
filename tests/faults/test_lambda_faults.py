"""Lambda tool faults, injected and survived (docs/runtime.md, Faults): throttled (TooManyRequestsException),
timing out inside Lambda, raising (FunctionError) and not answering at all. The platform's `echo` tool
is a `LambdaTool` over boto3 against a stub Invoke endpoint; each test asserts what the task's user
sees (the `tool.finished` event, the task's state) and how often the function was invoked."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config

from agent_runtime.agents import AgentSpec
from agent_runtime.settings import Settings
from agent_runtime.tools.lambda_ import LambdaTool
from agent_runtime.worker import AgentRuntime
from tests.api.support import SCRIPTS, make_tools
from tests.fakes.scripted_model import ScriptedModel
from tests.faults.harness import User, serving

READ_TIMEOUT_S = 0.5


class StubLambda:
    """`POST /2015-03-31/functions/{name}/invocations`: each invocation takes the next scripted fault
    ("throttle", "crash", "timeout", "stall"), then answers as the tool handler does."""

    def __init__(self) -> None:
        self.faults: deque[str] = deque()
        self.invocations: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.invocations.append(event)
                fault = stub.faults.popleft() if stub.faults else "ok"
                if fault == "throttle":
                    self._reply(429, {"message": "Rate Exceeded.", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"},
                                {"x-amzn-ErrorType": "TooManyRequestsException"})
                elif fault == "crash":
                    self._reply(200, {"errorMessage": "division by zero", "errorType": "ZeroDivisionError"},
                                {"X-Amz-Function-Error": "Unhandled"})
                elif fault == "timeout":
                    self._reply(200, {"errorMessage": "2025-01-01T00:00:00Z Task timed out after 60.00 seconds",
                                      "errorType": "Sandbox.Timedout"}, {"X-Amz-Function-Error": "Unhandled"})
                else:
                    if fault == "stall":
                        time.sleep(READ_TIMEOUT_S * 3)
                    self._reply(200, {"ok": True, "data": {"tool": "echo", "text": event["arguments"]["text"]}})

            def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                             **(headers or {})}.items():
                    self.send_header(k, v)
                self.end_headers()
                with_pipe_errors_ignored(lambda: self.wfile.write(data))

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def with_pipe_errors_ignored(write: Any) -> None:
    """The client may have given up (read timeout) before a stalled answer is written."""
    try:
        write()
    except (BrokenPipeError, ConnectionResetError):
        pass


@pytest.fixture(scope="module")
def stub() -> Iterator[StubLambda]:
    s = StubLambda()
    yield s
    s.close()


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, stub: StubLambda) -> Iterator[User]:
    # The deployed client's retry policy (lambda_client_config), with a short read timeout for the test.
    config = Config(connect_timeout=1, read_timeout=READ_TIMEOUT_S, retries={"total_max_attempts": 2, "mode": "standard"})
    client = boto3.client("lambda", endpoint_url=stub.url, region_name="us-east-1", config=config,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    tools: dict[str, Any] = dict(make_tools())
    tools["echo"] = LambdaTool(tools["echo"].spec, "AgentPlatform-echo", client=client)

    def factory(spec: AgentSpec, settings: Settings) -> AgentRuntime:
        return AgentRuntime(spec, ScriptedModel(SCRIPTS), tools)

    with serving(tmp_path_factory.mktemp("lambda-faults"), factory) as u:
        yield u


@pytest.fixture(autouse=True)
def _fresh(stub: StubLambda) -> None:
    stub.faults.clear()
    stub.invocations.clear()


def _run(user: User, stub: StubLambda, *faults: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Submit the `hello` task (one echo call, then an answer quoting its result) with the faults queued;
    return the ended task and its one `tool.finished` event."""
    stub.faults.extend(faults)
    task_id = user.submit("hello")
    task = user.ended(task_id)
    (finished,) = [e for e in user.events(task_id) if e["type"] == "tool.finished"]
    assert [e["type"] for e in user.events(task_id)].count("tool.started") == 1
    return task, finished


def test_a_throttle_is_retried_by_the_client_and_the_call_succeeds(user: User, stub: StubLambda) -> None:
    task, finished = _run(user, stub, "throttle")
    assert (finished["ok"], finished["outcome"]) == (True, "ok")
    assert task["state"] == "succeeded" and task["answer"] == 'echo said {"tool": "echo", "text": "hi"}'
    assert len(stub.invocations) == 2


def test_a_throttle_that_persists_is_an_error_the_model_reads(user: User, stub: StubLambda) -> None:
    task, finished = _run(user, stub, "throttle", "throttle")
    assert (finished["ok"], finished["outcome"]) == (False, "error")
    assert finished["error"] == "echo failed: could not invoke echo: TooManyRequestsException: Rate Exceeded."
    assert task["state"] == "succeeded" and task["answer"] == f"echo said ERROR: {finished['error']}"
    assert len(stub.invocations) == 2


def test_a_function_error_is_an_error_the_model_reads_and_is_not_invoked_again(user: User, stub: StubLambda) -> None:
    task, finished = _run(user, stub, "crash")
    assert (finished["ok"], finished["error"]) == (False, "echo failed: echo crashed: ZeroDivisionError: division by zero")
    assert task["state"] == "succeeded" and len(stub.invocations) == 1


def test_a_timeout_inside_lambda_is_a_timeout_the_model_reads(user: User, stub: StubLambda) -> None:
    task, finished = _run(user, stub, "timeout")
    assert (finished["ok"], finished["error"]) == (False, "echo failed: echo timed out inside Lambda (60 s)")
    assert task["state"] == "succeeded" and len(stub.invocations) == 1


def test_a_function_that_does_not_answer_is_a_timeout_after_one_retry(user: User, stub: StubLambda) -> None:
    task, finished = _run(user, stub, "stall", "stall")
    assert (finished["ok"], finished["error"]) == (False, "echo failed: echo did not answer in time (ReadTimeoutError)")
    assert task["state"] == "succeeded"
    assert [e["call_id"] for e in stub.invocations] == [finished["call_id"]] * 2  # same call id: idempotency key
