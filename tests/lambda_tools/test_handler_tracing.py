"""The shared handler and a trace context in the event: the trace id in its log lines, its own span only when
the SDK is there and the environment asks for traces; a bad context changes nothing."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import pytest

from lambda_tools import tracing
from lambda_tools.extract_entities.handler import handler
from tests.lambda_tools.conftest import log_records

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
ARGS = {"text": "Ada Lovelace met Charles Babbage in London."}


def test_the_trace_id_goes_into_the_log_lines(lambda_context: Any, log_stream: io.StringIO) -> None:
    result = handler({"arguments": ARGS, "call_id": "c1", "trace_context": {"traceparent": TRACEPARENT}},
                     lambda_context)
    assert result["ok"] is True
    tool_ok = next(line for line in log_records(log_stream) if line.get("message") == "tool ok")
    assert (tool_ok["trace_id"], tool_ok["parent_span_id"]) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")


@pytest.mark.parametrize("context", ["00-abc", {"traceparent": "00-zz"}, {"traceparent": 5},
                                     {"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}])
def test_an_invalid_trace_context_is_ignored(context: Any, lambda_context: Any) -> None:
    assert tracing.carrier_of({"trace_context": context}) is None
    assert handler({"arguments": ARGS, "trace_context": context}, lambda_context)["ok"] is True


def test_unknown_event_keys_are_still_refused(lambda_context: Any) -> None:
    result = handler({"arguments": ARGS, "trace": {"traceparent": TRACEPARENT}}, lambda_context)
    assert result["error"]["type"] == "invalid_event" and "trace_context" in result["error"]["message"]


def test_without_an_exporter_configured_no_span_and_no_import(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    code = ("import sys, json; from lambda_tools.extract_entities.handler import handler\n"
            "class C: aws_request_id='r'; function_name='f'; memory_limit_in_mb=128; "
            "invoked_function_arn='arn:aws:lambda:us-east-1:1:function:f'\n"
            f"r = handler({{'arguments': {ARGS!r}, 'trace_context': {{'traceparent': {TRACEPARENT!r}}}}}, C())\n"
            "print(json.dumps([r['ok'], [m for m in sys.modules if m.startswith('opentelemetry')]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == [True, []]


@pytest.mark.parametrize(("environ", "on"), [
    ({}, False), ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True), ({"OTEL_TRACES_EXPORTER": "none",
                                                   "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
])
def test_traces_are_on_only_when_the_environment_asks(environ: dict[str, str], on: bool) -> None:
    assert tracing.configured(environ) is on
