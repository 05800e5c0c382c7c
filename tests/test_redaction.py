"""Secrets never stored from errors: `redact` itself, and a task run through the durable path (SQLite store,
worker, HTTP API) whose model endpoint echoes the request's Authorization header and whose tool's error
quotes AWS keys: the secrets appear in no event, no task error, no byte of the data directory, no log line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from agent_runtime.agents import AgentSpec
from agent_runtime.errors import ToolError
from agent_runtime.models.factory import build_model
from agent_runtime.observability import configure_logging
from agent_runtime.redact import REDACTED, RedactingFilter, forget_secrets, redact, register_secret
from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from agent_runtime.worker import AgentRuntime
from lambda_tools.spec import ToolSpec
from tests.api.support import ServerThread
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, fail, use_tools

LLM_KEY = "sk-proj-Zq81xVbN4mK2pLw9Rt6yHc3JdF0sGe7uAiOo5"
API_KEY = "local-api-key-7f3c9a1e5b"  # no recognisable shape: only its registration can catch it
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRETS = (LLM_KEY, API_KEY, AWS_ID, AWS_SECRET)


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize("text", [
    f"Authorization: Bearer {LLM_KEY}",
    f"invalid key {LLM_KEY} provided",
    "token sk-ant-api03-abcdefghijklmnopqrstuv used",
    f"credentials {AWS_ID} and aws_secret_access_key = {AWS_SECRET}",
    f'{{"AccessKeyId": "ASIAY34FZKBOKMUTVV7A", "SecretAccessKey": "{AWS_SECRET}"}}',
    "authorization: bearer abc.def.ghijkl",
    "x-api-key: 0123456789abcdef",
])
def test_credential_shapes_are_redacted(text: str) -> None:
    out = redact(text)
    assert REDACTED in out
    for secret in (*SECRETS, "ASIAY34FZKBOKMUTVV7A", "sk-ant-api03", "abc.def.ghijkl", "0123456789abcdef"):
        assert secret not in out


def test_registered_secrets_are_redacted_and_ordinary_text_is_kept() -> None:
    assert redact(f"the key is {API_KEY}.") == f"the key is {API_KEY}."  # not registered: no shape to see
    register_secret(API_KEY, "short", None)
    assert redact(f"the key is {API_KEY}.") == f"the key is {REDACTED}."
    ordinary = "Incorrect API key provided. Rate limit: 3 sk-s; see https://example.com/a?b=c short"
    assert redact(ordinary) == ordinary


def test_the_log_filter_redacts_message_arguments_extras_and_tracebacks() -> None:
    register_secret(API_KEY)
    try:
        raise RuntimeError(f"boom with {API_KEY}")
    except RuntimeError:
        record = logging.LogRecord("agent_runtime.x", logging.ERROR, __file__, 1, "key %s", (API_KEY,),
                                   exc_info=__import__("sys").exc_info())
    record.__dict__["reason"] = f"because {LLM_KEY}"  # as `extra={"reason": ...}` sets it
    assert RedactingFilter().filter(record)
    assert record.getMessage() == f"key {REDACTED}" and record.__dict__["reason"] == f"because {REDACTED}"
    assert record.exc_text is not None and API_KEY not in record.exc_text and "RuntimeError" in record.exc_text


class _LeakyIn(BaseModel):
    pass


class LeakyTool:
    """A tool whose error quotes the AWS credentials it used (as a careless SDK wrapper might)."""

    spec = ToolSpec(name="leaky", description="fails quoting its credentials", input_model=_LeakyIn,
                    run=lambda a, c: {}, handler="tests.none", timeout_s=10)

    async def invoke(self, args: _LeakyIn, *, task_id: str, call_id: str) -> dict[str, Any]:
        raise ToolError(f"S3 refused the request signed with {AWS_ID} / aws_secret_access_key={AWS_SECRET}")


def _echo_authorization(server: FakeOpenAIServer) -> Any:
    """An error reply whose message echoes the request's Authorization header (some proxies do)."""

    def reply(body: dict[str, Any]) -> Reply:
        header = server.requests[-1].headers.get("authorization", "")
        return fail(401, f"Invalid credentials in header 'Authorization: {header}' for key {LLM_KEY}")

    return reply


@pytest.fixture
def restored_logging() -> Iterator[None]:
    logger = logging.getLogger("agent_runtime")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def _wait_for_end(http: httpx.Client, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        task = http.get(f"/v1/agents/research/tasks/{task_id}").json()
        if task["state"] in ("succeeded", "failed", "cancelled"):
            return dict(task)
        time.sleep(0.05)
    raise AssertionError("the task did not end")


def test_an_endpoint_echoing_the_key_leaves_no_secret_anywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restored_logging: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_logging("INFO", json_logs=True)
    with FakeOpenAIServer(api_key=LLM_KEY) as server:
        server.script(use_tools(call("leaky")), _echo_authorization(server))
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", LLM_KEY)
        settings = Settings(data_dir=tmp_path / "data", api_keys=API_KEY, model="fake-model", model_max_retries=0,
                            agent="research")

        def runtime(spec: AgentSpec, s: Settings) -> AgentRuntime:
            return AgentRuntime(spec, build_model(s, spec), {"leaky": LeakyTool()})  # type: ignore[dict-item]

        platform = create_platform(settings, runtime_factory=runtime, heartbeat_s=0.3, poll_s=0.05)
        with ServerThread(platform.app) as api, httpx.Client(
            base_url=api.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=20,
        ) as http:
            r = http.post("/v1/agents/research/tasks", json={"input": "list the bucket"})
            assert r.status_code == 202, r.text
            task_id = r.json()["task_id"]
            task = _wait_for_end(http, task_id)
            events = http.get(f"/v1/agents/research/tasks/{task_id}/events", params={"format": "json"}).json()
            logging.getLogger("agent_runtime.test").warning("the client used %s", API_KEY,
                                                            extra={"header": f"Bearer {LLM_KEY}"})
        assert server.requests[-1].headers["authorization"] == f"Bearer {LLM_KEY}"  # the key was sent, and echoed
    assert task["state"] == "failed" and task["stop_reason"] == "error"
    assert task["error"].startswith("model error: the model endpoint answered HTTP 401") and REDACTED in task["error"]
    finished = next(e for e in events["events"] if e["type"] == "tool.finished")
    assert finished["ok"] is False and REDACTED in finished["error"] and AWS_ID not in finished["result"]
    text = json.dumps([task, events])
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    logs = capsys.readouterr().err
    assert "the client used" in logs and "task ended" in logs
    for secret in SECRETS:
        assert secret not in text, f"{secret} in the API's answers"
        assert secret.encode() not in stored, f"{secret} in the data directory"
        assert secret not in logs, f"{secret} in the logs"


def test_the_configured_llm_key_is_registered_whatever_its_shape() -> None:
    from agent_runtime.models.openai_model import OpenAIModel

    key = "plain-llm-key-without-any-known-shape"
    assert redact(key) == key
    OpenAIModel("fake-model", base_url="http://127.0.0.1:9/v1", api_key=key)
    assert redact(f"echo: {key}") == f"echo: {REDACTED}"
