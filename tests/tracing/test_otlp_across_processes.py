"""One trace across processes, exported over OTLP/HTTP to a receiver on 127.0.0.1 that decodes the protobuf:
the API request that submits a task (continuing the caller's `traceparent`), the worker that runs it, and
the Lambda handler of its tool, run by the rehearsal's local Lambda endpoint in a process of its own with
only the deployed packages (the asset, the Powertools layer, the ADOT layer's OpenTelemetry)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from agent_runtime import tracing
from agent_runtime.agents import AgentSpec
from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from agent_runtime.tools import LambdaTool
from agent_runtime.worker import AgentRuntime
from lambda_tools.catalog import get_tool
from rehearsal.gateway import Principal
from rehearsal.lambda_endpoint import LambdaEndpoint
from rehearsal.provision import Function
from tests.api.support import API_KEY, ServerThread
from tests.fakes.scripted_model import ScriptedModel, call, final
from tests.tracing.otlp_receiver import OtlpReceiver

REPO = Path(__file__).resolve().parents[2]
FUNCTION = "AgentPlatform-extract-entities"
LAYERS = ["arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:7",
          "arn:aws:lambda:us-east-1:901920570463:layer:aws-otel-python-amd64-ver-1-32-0:1"]
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TEXT = "Ada Lovelace met Charles Babbage in London in 1833."


class OpenGateway:
    """The rehearsal gateway's part the Lambda endpoint uses, letting every caller invoke (IAM is not
    what this test is about); the function makes no AWS call."""

    url = "http://127.0.0.1:9"

    def __init__(self) -> None:
        self.task_of_key: Any = None
        self.recorder = type("Recorder", (), {"add": staticmethod(lambda call: None)})()

    def register(self, key: str, principal: Principal) -> None:
        return None

    def authorize(self, key: str, request: Any) -> tuple[Principal, None]:
        return Principal("caller", None), None


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture
def lambda_endpoint(receiver: OtlpReceiver, tmp_path: Path) -> Iterator[LambdaEndpoint]:
    asset = tmp_path / "asset"
    asset.mkdir()
    (asset / "lambda_tools").symlink_to(REPO / "lambda_tools")
    fn = Function(name=FUNCTION, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}",
                  handler="lambda_tools.extract_entities.handler.handler", code_dir=str(asset), layers=LAYERS,
                  environment={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "agent-tools",
                               "POWERTOOLS_SERVICE_NAME": "extract_entities"},
                  timeout_s=30, memory_mb=512, role_arn="arn:aws:iam::123456789012:role/tools", log_group=None)
    endpoint = LambdaEndpoint({FUNCTION: fn}, OpenGateway(), lambda role, session: {  # type: ignore[arg-type]
        "AWS_ACCESS_KEY_ID": "AKIDFUNCTION", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"},
        tmp_path / "lambda").start()
    assert not endpoint.gaps, endpoint.gaps
    yield endpoint
    endpoint.stop()


def _factory(endpoint_url: str) -> Any:
    client = boto3.client("lambda", endpoint_url=endpoint_url, region_name="us-east-1",
                          aws_access_key_id="AKIDCALLER", aws_secret_access_key="secret")
    tool = LambdaTool(get_tool("extract_entities"), FUNCTION, client=client)
    script = {"find": [call("extract_entities", {"text": TEXT}), final("found them")]}

    def factory(spec: AgentSpec, settings: Settings) -> AgentRuntime:
        return AgentRuntime(spec, ScriptedModel(script), {"extract_entities": tool})  # type: ignore[arg-type]

    return factory


def _run_task(url: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_KEY}", "traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
        accepted = http.post("/v1/agents/research/tasks", json={"input": "find the people"})
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + 30
        while True:
            task = http.get(f"/v1/agents/research/tasks/{accepted.json()['task_id']}").json()
            if task["state"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
                return task  # type: ignore[no-any-return]
            time.sleep(0.05)


def test_the_api_the_worker_and_the_lambda_handler_share_one_trace(
    receiver: OtlpReceiver, lambda_endpoint: LambdaEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "agent-research")
    assert tracing.setup()
    try:
        settings = Settings(data_dir=tmp_path / "data", api_keys=API_KEY, store="sqlite", queue="local", agent=None)
        platform = create_platform(settings, runtime_factory=_factory(lambda_endpoint.url), poll_s=0.05)
        with ServerThread(platform.app) as server:
            task = _run_task(server.url)
    finally:
        tracing.shutdown()  # exports what the batch processor still holds
    assert task["state"] == "succeeded", task
    assert [i.outcome for i in lambda_endpoint.invocations] == ["ok"]

    spans = {(s.service, s.name): s for s in receiver.spans}
    api = spans[("agent-research", "POST /v1/agents/{agent}/tasks")]
    root = spans[("agent-research", "invoke_agent research")]
    tool = spans[("agent-research", "execute_tool extract_entities")]
    handler = spans[("agent-tools", FUNCTION)]
    assert {s.trace_id for s in receiver.spans} == {CALLER_TRACE}  # the caller's trace, continued throughout
    assert api.parent_span_id == "00f067aa0ba902b7" and api.kind == 2  # SERVER, under the caller's span
    assert root.parent_span_id == api.span_id  # the worker's run continues the submit request
    assert tool.parent_span_id == root.span_id
    assert handler.parent_span_id == tool.span_id and handler.kind == 2  # the Lambda invocation, a SERVER span
    assert handler.attributes["gen_ai.tool.call.id"] == tool.attributes["gen_ai.tool.call.id"]
    assert ("agent-research", "send research") in spans and ("agent-research", "create_task") in spans
