"""The trace context a tool's invocation carries, picked up by the handler.

`LambdaTool` puts the W3C context of its `execute_tool` span into the event as
`"trace_context": {"traceparent": ..., "tracestate": ...}`. The handler then

- adds the trace id to its log lines (always: no OpenTelemetry needed), and
- records a SERVER span for the invocation, child of the caller's span, when the OpenTelemetry SDK is
  importable in the function (the deployed package does not ship it: add a layer with it, e.g. the ADOT
  Python layer) and the standard variables ask for traces (`OTEL_EXPORTER_OTLP_ENDPOINT`, ...).

Nothing is imported until an invocation carries a context and the environment asks for traces, so the
cold start of a function without them is unchanged. An invalid context is ignored, never an error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

TRACE_KEY = "trace_context"
_TRACEPARENT = re.compile(r"^00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-[0-9a-f]{2}$")
_MAX_TRACESTATE = 512
FLUSH_TIMEOUT_MS = 2_000  # an invocation waits at most this long for its span to be exported

_tracer: dict[str, Any] = {}  # "tracer" -> (tracer, provider) or None, decided once per execution environment


def configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces: an exporter named (other than `none`) or an OTLP endpoint set."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def carrier_of(event: Any) -> dict[str, str] | None:
    """The event's valid trace context (`traceparent`, optional `tracestate`), else None."""
    raw = event.get(TRACE_KEY) if isinstance(event, dict) else None
    if not isinstance(raw, dict):
        return None
    traceparent = raw.get("traceparent")
    if not isinstance(traceparent, str) or not _TRACEPARENT.match(traceparent):
        return None
    carrier = {"traceparent": traceparent}
    tracestate = raw.get("tracestate")
    if isinstance(tracestate, str) and 0 < len(tracestate) <= _MAX_TRACESTATE:
        carrier["tracestate"] = tracestate
    return carrier


def log_keys(carrier: Mapping[str, str]) -> dict[str, str]:
    """The ids a log line needs to be found from the trace: its trace id and the caller's span id."""
    _, trace_id, span_id, _ = carrier["traceparent"].split("-")
    return {"trace_id": trace_id, "parent_span_id": span_id}


def _make_tracer() -> tuple[Any, Any] | None:
    if not configured():
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:  # the function has no SDK: its log lines still carry the trace id
        return None
    provider: Any = trace.get_tracer_provider()
    if not hasattr(provider, "force_flush") or not hasattr(provider, "add_span_processor"):  # no SDK one yet
        named = os.environ.get("OTEL_SERVICE_NAME")
        provider = TracerProvider(resource=Resource.create({} if named else {"service.name": "agent-platform-tools"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider.get_tracer("lambda_tools"), provider


def tracer() -> tuple[Any, Any] | None:
    """(tracer, provider) when the function can and should record spans, decided on first use."""
    if "tracer" not in _tracer:
        _tracer["tracer"] = _make_tracer()
    return _tracer["tracer"]  # type: ignore[no-any-return]


@contextmanager
def invocation_span(tool: str, carrier: Mapping[str, str], *, call_id: str | None,
                    request_id: str) -> Iterator[Any]:
    """A SERVER span for one invocation, child of the caller's `execute_tool` span; yields a function that
    records the handler's result on it (`{ok, error}`). Exported before the invocation returns (Lambda
    may freeze the environment right after). Yields a no-op without an SDK or a configured exporter."""
    made = tracer()
    if made is None:
        yield lambda result: None
        return
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind, Status, StatusCode

    otel_tracer, provider = made
    attributes = {"faas.name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", tool), "faas.invocation_id": request_id,
                  "faas.trigger": "other", "cloud.provider": "aws", "gen_ai.operation.name": "execute_tool",
                  "gen_ai.tool.name": tool}
    if call_id:
        attributes["gen_ai.tool.call.id"] = call_id

    with otel_tracer.start_as_current_span(attributes["faas.name"], context=propagate.extract(dict(carrier)),
                                           kind=SpanKind.SERVER, attributes=attributes) as span:
        def record(result: Mapping[str, Any]) -> None:
            if not result.get("ok"):
                error = result.get("error") or {}
                span.set_attribute("error.type", str(error.get("type") or "tool_error"))
                span.set_status(Status(StatusCode.ERROR, str(error.get("message") or "")))

        yield record
    provider.force_flush(FLUSH_TIMEOUT_MS)


def reset() -> None:
    """Forget the tracer (tests change the environment between cases)."""
    _tracer.clear()
