"""Model endpoint faults, injected and survived (docs/runtime.md, Faults): 429 with Retry-After, 500,
a reply that is not JSON, a connection dropped in the middle of the reply, a reply stalled past the
model timeout. Each test submits a task over HTTP to a platform whose model is `OpenAIModel` against
a fake endpoint, and asserts what its user sees: the task's state, events and error text, and that
every tool call ran once."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_runtime.agents import AgentSpec
from agent_runtime.models.openai_model import OpenAIModel
from agent_runtime.settings import Settings
from agent_runtime.worker import AgentRuntime
from tests.api.support import CountingTool, make_tools
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, fail, say, use_tools
from tests.faults.harness import User, serving

TIMEOUT_S = 0.5  # the model timeout: a stalled reply is given up after this, then retried
RETRIES = 2


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def tools() -> dict[str, CountingTool]:
    return make_tools()


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAIServer,
         tools: dict[str, CountingTool]) -> Iterator[User]:
    def factory(spec: AgentSpec, settings: Settings) -> AgentRuntime:
        model = OpenAIModel("gpt-4o-mini", base_url=fake.base_url, max_retries=RETRIES, timeout_s=TIMEOUT_S)
        return AgentRuntime(spec, model, tools)  # type: ignore[arg-type]

    with serving(tmp_path_factory.mktemp("model-faults"), factory) as u:
        yield u


@pytest.fixture(autouse=True)
def _fresh_script(fake: FakeOpenAIServer) -> None:
    fake.reset()


def _echo_then(fault: Reply, fake: FakeOpenAIServer) -> None:
    """A task whose model calls `echo` once, meets `fault` on its next call, then answers."""
    fake.script(use_tools(call("echo", {"text": "once"})), fault, say("done after the fault"))


@pytest.mark.parametrize("fault", [
    pytest.param(fail(429, "Rate limit reached", code="rate_limit_exceeded", retry_after=0.2), id="429-retry-after"),
    pytest.param(fail(500), id="500"),
    pytest.param(Reply(delay_s=TIMEOUT_S + 1.0, text="too late"), id="stalled"),
    pytest.param(Reply(disconnect=True), id="connection-dropped"),
])
def test_a_transient_fault_is_retried_and_the_task_succeeds(
    user: User, fake: FakeOpenAIServer, tools: dict[str, CountingTool], fault: Reply,
) -> None:
    _echo_then(fault, fake)
    task_id = user.submit("echo once")
    task = user.ended(task_id)
    assert (task["state"], task["answer"]) == ("succeeded", "done after the fault")
    assert user.types(task_id) == ["task.started", "model.turn", "tool.started", "tool.finished", "model.turn",
                                   "task.finished"]  # the retry is invisible: no event, no extra step
    assert task["steps"] == 2 and len(fake.chat_requests) == 3  # 2 steps, the faulted call sent again
    assert tools["echo"].started(task_id) == [tools["echo"].started(task_id)[0]]  # the tool ran once


def test_a_429_waits_as_long_as_retry_after_says(user: User, fake: FakeOpenAIServer) -> None:
    fake.script(fail(429, "Rate limit reached", retry_after=1.0), say("answered"))
    task_id = user.submit("just answer")
    task = user.ended(task_id)
    assert task["state"] == "succeeded"
    assert task["finished_at"] - task["started_at"] >= 0.95


@pytest.mark.parametrize(("fault", "error"), [
    pytest.param(fail(500, "The server had an error"), "model error: the model endpoint answered HTTP 500 "
                 "(server_error): The server had an error", id="500-every-time"),
    pytest.param(Reply(delay_s=TIMEOUT_S + 1.0, text="too late"), "model error: the model endpoint "
                 "http://127.0.0.1:{port}/v1 did not answer within 0.5 s (after retries)", id="stalled-every-time"),
])
def test_a_fault_that_outlasts_the_retries_fails_the_task_with_the_endpoints_words(
    user: User, fake: FakeOpenAIServer, fault: Reply, error: str,
) -> None:
    fake.script(*[fault] * (RETRIES + 1))
    task_id = user.submit("just answer")
    task = user.ended(task_id)
    assert (task["state"], task["stop_reason"]) == ("failed", "error")
    assert task["error"] == error.format(port=fake.port)
    assert user.types(task_id) == ["task.started", "task.failed"]
    assert len(fake.chat_requests) == RETRIES + 1


def test_a_reply_that_is_not_json_fails_the_task_saying_so(user: User, fake: FakeOpenAIServer) -> None:
    # A 200 whose body is not a completion is a broken endpoint, not a transient fault: no retry.
    fake.script(Reply(raw_body='{"choices": [{"message": '))
    task_id = user.submit("just answer")
    task = user.ended(task_id)
    assert (task["state"], task["stop_reason"]) == ("failed", "error")
    assert task["error"].startswith("model error: the model endpoint's reply is not a chat completion "
                                    "(JSONDecodeError: ")
    assert len(fake.chat_requests) == 1


class _CutOffEndpoint:
    """A model endpoint that drops the first `cuts` connections after 40 bytes of a 2,000-byte reply
    (headers sent, body cut short), then answers properly."""

    def __init__(self, cuts: int) -> None:
        self.cuts, self.requests = cuts, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            if self.requests <= self.cuts:
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2000\r\n\r\n"
                             + b'{"id": "chatcmpl-1", "choices": [{"inde')
                return
            reply = json.dumps({"id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-4o-mini",
                                "choices": [{"index": 0, "finish_reason": "stop",
                                             "message": {"role": "assistant", "content": "whole answer"}}],
                                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
                         + f"content-length: {len(reply)}\r\n\r\n".encode() + reply)

    def close(self) -> None:
        self.sock.close()


def test_a_connection_dropped_mid_reply_is_retried(tmp_path: Path, tools: dict[str, CountingTool]) -> None:
    endpoint = _CutOffEndpoint(cuts=1)

    def factory(spec: AgentSpec, settings: Settings) -> AgentRuntime:
        model = OpenAIModel("gpt-4o-mini", base_url=endpoint.base_url, max_retries=RETRIES, timeout_s=5)
        return AgentRuntime(spec, model, tools)  # type: ignore[arg-type]

    try:
        with serving(tmp_path, factory) as u:
            task_id = u.submit("just answer")
            task = u.ended(task_id)
    finally:
        endpoint.close()
    assert (task["state"], task["answer"]) == ("succeeded", "whole answer")
    assert endpoint.requests == 2
