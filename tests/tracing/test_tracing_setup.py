"""Tracing's configuration and propagation: off unless configured (and then nothing imported), the exporters
the environment names, the X-Ray header and SigV4 signing, the trace context a Lambda tool sends."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import botocore.credentials
import pytest
import requests

from agent_runtime import tracing
from agent_runtime.errors import ConfigurationError
from agent_runtime.settings import Settings
from agent_runtime.tools.lambda_ import LambdaTool, _trace_header
from agent_runtime.tracing.sdk import processors_from_env
from agent_runtime.tracing.sigv4 import signed_session, xray_region
from lambda_tools.catalog import get_tool
from tests.tracing.conftest import Spans

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_with_tracing_off_a_task_imports_no_opentelemetry_module() -> None:
    code = ("import asyncio, json, sys\n"
            "from tests.test_loop import make_agent, calls, final\n"
            "agent, _ = make_agent([calls(('echo', {'text': 'x'})), final()])\n"
            "r = asyncio.run(agent.run('x'))\n"
            "print(json.dumps([r.status, [m for m in sys.modules if m.startswith('opentelemetry')]]))")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert json.loads(out.splitlines()[-1]) == ["succeeded", []]


def test_the_noop_trace_is_one_shared_object() -> None:
    assert tracing.task_trace() is tracing.NOOP and tracing.carrier() is None


def test_exporters_come_from_the_environment() -> None:
    kinds = [type(p).__name__ for p in processors_from_env({"OTEL_TRACES_EXPORTER": "otlp,console"})]
    assert kinds == ["BatchSpanProcessor", "SimpleSpanProcessor"]
    assert processors_from_env({}) == []


@pytest.mark.parametrize(("environ", "message"), [
    ({"OTEL_TRACES_EXPORTER": "zipkin"}, "unknown exporter(s) zipkin"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "only http/protobuf"),
])
def test_unusable_exporter_settings_are_refused_with_a_message(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        processors_from_env(environ)


def test_settings_refuse_an_unknown_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    with pytest.raises(ValueError, match="unknown exporter"):
        Settings()


def test_the_xray_header_is_the_w3c_trace_split() -> None:
    assert tracing.xray_header({"traceparent": TRACEPARENT}) == (
        "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1")
    assert tracing.xray_header({"traceparent": "garbage"}) is None


def test_requests_to_xrays_endpoint_are_signed_for_xray() -> None:
    assert xray_region("https://xray.eu-west-1.amazonaws.com/v1/traces") == "eu-west-1"
    assert xray_region("http://localhost:4318") is None
    credentials = botocore.credentials.Credentials("AKIDEXAMPLE", "secret", "token")
    request = requests.Request("POST", "https://xray.eu-west-1.amazonaws.com/v1/traces", data=b"\x0a\x00",
                               headers={"Content-Type": "application/x-protobuf"})
    prepared = signed_session("eu-west-1", credentials).prepare_request(request)
    assert "Credential=AKIDEXAMPLE/" in prepared.headers["Authorization"]
    assert "/eu-west-1/xray/aws4_request" in prepared.headers["Authorization"]
    assert prepared.headers["X-Amz-Security-Token"] == "token"


class _Client:
    """A Lambda client that records the payload and answers ok."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        import io

        self.events.append(json.loads(kwargs["Payload"]))
        return {"Payload": io.BytesIO(b'{"ok": true, "data": {}, "error": null}')}


async def test_a_lambda_tool_sends_its_call_spans_context_only_when_tracing(spans: Spans) -> None:
    spec = get_tool("extract_entities")
    client = _Client()
    tool = LambdaTool(spec, "fn", client=client)
    args = spec.input_model(text="Ada")
    await tool.invoke(args, task_id="t", call_id="c")  # no span current: the root context of nothing
    trace = tracing.task_trace()
    with trace.tool(type("Call", (), {"name": spec.name, "id": "c", "arguments": "{}"})()):
        await tool.invoke(args, task_id="t", call_id="c")
    tool_span = spans.one("execute_tool")
    sent = client.events[-1]["trace_context"]["traceparent"]
    assert sent.startswith(f"00-{tool_span.context.trace_id:032x}-{tool_span.context.span_id:016x}-")
    assert "trace_context" not in client.events[0]


async def test_without_tracing_the_event_has_no_trace_context() -> None:
    spec = get_tool("extract_entities")
    client = _Client()
    await LambdaTool(spec, "fn", client=client).invoke(spec.input_model(text="Ada"), task_id="t", call_id="c")
    assert set(client.events[0]) == {"arguments", "task_id", "call_id"}


def test_the_invoke_request_carries_the_xray_header_inside_a_span(spans: Spans) -> None:
    request = type("Request", (), {"headers": {}})()
    _trace_header(request)
    assert request.headers == {}
    trace = tracing.task_trace()
    with trace.tool(type("Call", (), {"name": "x", "id": "c", "arguments": "{}"})()):
        _trace_header(request)
    trace_id = f"{spans.one('execute_tool').context.trace_id:032x}"
    assert request.headers["X-Amzn-Trace-Id"].startswith(f"Root=1-{trace_id[:8]}-{trace_id[8:]};")


class _Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"refused with {status}")
        self.status = status


@pytest.mark.parametrize(("status", "error"), [(409, False), (503, True)])
def test_a_refused_request_is_an_error_only_when_the_server_failed(spans: Spans, status: int, error: bool) -> None:
    with pytest.raises(_Refused), tracing.server_span("POST /x", {"traceparent": TRACEPARENT}):
        raise _Refused(status)
    span = spans.one("POST /x")
    assert span.attributes["http.response.status_code"] == status
    assert (span.status.status_code.name == "ERROR") is error
    assert f"{span.context.trace_id:032x}" == TRACEPARENT.split("-")[1]  # the caller's trace, continued


async def test_the_sampler_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agent_runtime.tracing.sdk import provider_from_env
    from tests.test_loop import calls, final, make_agent

    counts = {}
    for sampler in ("always_on", "always_off"):
        monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
        memory = InMemorySpanExporter()
        tracing.install(provider_from_env({"OTEL_TRACES_EXPORTER": "none"}, [SimpleSpanProcessor(memory)]))
        try:
            agent, _ = make_agent([calls(("echo", {"text": "x"})), final()])
            assert (await agent.run("x")).status == "succeeded"
        finally:
            tracing.shutdown()
        counts[sampler] = len(memory.get_finished_spans())
    assert counts == {"always_on": 4, "always_off": 0}  # invoke_agent, chat, execute_tool, chat


async def test_the_stacks_xray_settings_export_signed_spans_where_aws_calls_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment `traces=true` gives a service (X-Ray's endpoint), with AWS_ENDPOINT_URL pointing the
    process's AWS calls elsewhere (as the rehearsal and moto do): the spans go there, signed for xray."""
    from agent_runtime.tracing.sdk import provider_from_env
    from tests.test_loop import calls, final, make_agent
    from tests.tracing.otlp_receiver import OtlpReceiver

    with OtlpReceiver() as receiver:
        for name, value in {"AWS_ENDPOINT_URL": receiver.url, "AWS_ACCESS_KEY_ID": "AKIDTASKROLE",
                            "AWS_SECRET_ACCESS_KEY": "secret", "OTEL_SERVICE_NAME": "AgentPlatform-research",
                            "OTEL_TRACES_EXPORTER": "otlp",
                            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://xray.us-east-1.amazonaws.com/v1/traces",
                            }.items():
            monkeypatch.setenv(name, value)
        tracing.install(provider_from_env())
        try:
            agent, _ = make_agent([calls(("echo", {"text": "x"})), final()])
            await agent.run("x")
        finally:
            tracing.shutdown()
    assert {s.name for s in receiver.spans} >= {"invoke_agent test", "execute_tool echo"}
    assert {s.service for s in receiver.spans} == {"AgentPlatform-research"}
    assert receiver.authorizations and all("Credential=AKIDTASKROLE/" in a and "/us-east-1/xray/aws4_request" in a
                                           for a in receiver.authorizations)
