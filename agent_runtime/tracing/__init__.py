"""OpenTelemetry traces of tasks, in the GenAI semantic conventions; off unless configured.

Configured by the standard variables (`OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`...). With none of them set nothing here imports the SDK:
the loop's hooks are calls on `NOOP`, a shared object whose methods do nothing and allocate nothing.

`setup()` (called once by the server and the CLI) installs a tracer provider from the environment;
`install()` takes one built by the caller (the CLI's `--trace`, tests with the in-memory exporter).
The spans themselves are built in `agent_runtime.tracing.spans`; the provider in `.sdk`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from agent_runtime.tracing.noop import NOOP, NoopTrace
from lambda_tools.tracing import configured  # one reading of the variables, shared with the tools' handlers

if TYPE_CHECKING:
    from agent_runtime.tracing.spans import TaskTrace

__all__ = ["NOOP", "NoopTrace", "capture_content", "carrier", "configured", "continued", "enabled", "install",
           "server_span", "setup", "shutdown", "span", "task_trace", "uninstall", "xray_header"]

EXPORTERS = ("otlp", "console", "none")  # the values of OTEL_TRACES_EXPORTER this runtime can act on
# The GenAI instrumentations' switch for recording prompts and completions (off by default).
CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

_tracer: Any = None  # an opentelemetry Tracer while tracing is on
_provider: Any = None
_capture = False


def capture_content(environ: Mapping[str, str] | None = None) -> bool:
    """Whether prompts and completions go into spans (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`)."""
    environ = os.environ if environ is None else environ
    return environ.get(CAPTURE_CONTENT, "").strip().lower() in ("true", "1", "yes", "on")


def setup(environ: Mapping[str, str] | None = None) -> bool:
    """Install a provider from the OTel environment variables when they ask for traces; True if on."""
    if _tracer is not None:
        return True
    if not configured(environ):
        return False
    from agent_runtime.tracing.sdk import provider_from_env  # the SDK is imported only when traces are on

    install(provider_from_env(environ), capture=capture_content(environ))
    return True


def install(provider: Any, *, capture: bool = False) -> None:
    """Trace with `provider` (an SDK `TracerProvider`) from now on; `capture` records message content."""
    global _tracer, _provider, _capture
    from agent_runtime.tracing.spans import tracer_of

    _provider, _tracer, _capture = provider, tracer_of(provider), capture


def uninstall() -> Any:
    """Stop tracing (tests, the end of a CLI run); returns the provider, to flush or shut down."""
    global _tracer, _provider, _capture
    provider, _tracer, _provider, _capture = _provider, None, None, False
    return provider


def shutdown() -> None:
    """Stop tracing and export what is still buffered (at the end of a process or a CLI run)."""
    provider = uninstall()
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _tracer is not None


def task_trace() -> TaskTrace | NoopTrace:
    """The trace of one task run: `NOOP` while tracing is off."""
    if _tracer is None:
        return NOOP
    from agent_runtime.tracing.spans import TaskTrace

    return TaskTrace(_tracer, capture=_capture)


def carrier() -> dict[str, str] | None:
    """The current trace context as W3C headers (`traceparent`, `tracestate`), or None while off."""
    if _tracer is None:
        return None
    from agent_runtime.tracing.spans import inject

    return inject() or None


def xray_header(carrier: Mapping[str, str] | None) -> str | None:
    """The `X-Amzn-Trace-Id` of a W3C context: a Lambda function with X-Ray active tracing records its
    invocation in the same trace (X-Ray's `1-xxxxxxxx-yyyy...` root is the W3C trace id, split)."""
    parts = (carrier or {}).get("traceparent", "").split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    trace_id, span_id, flags = parts[1], parts[2], parts[3]
    sampled = int(flags, 16) & 1 if all(c in "0123456789abcdef" for c in flags) else 0
    return f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span_id};Sampled={sampled}"


@contextmanager
def continued(traceparent: str | None) -> Iterator[None]:
    """Make the stored context `traceparent` current: spans started inside are its children (the worker
    continues the trace of the request that submitted the task). Nothing while off or without one."""
    if _tracer is None or not traceparent:
        yield
        return
    from agent_runtime.tracing.spans import attached

    with attached({"traceparent": traceparent}):
        yield


@contextmanager
def server_span(name: str, headers: Mapping[str, str], **attributes: Any) -> Iterator[str | None]:
    """A SERVER span for an API request, continuing the caller's `traceparent` if it sent one; yields the
    span's own traceparent (to store with what the request creates), None while off."""
    if _tracer is None:
        yield None
        return
    from agent_runtime.tracing.spans import server_span as real

    with real(_tracer, name, headers, attributes) as traceparent:
        yield traceparent


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[None]:
    """A child span of the current one (a store or queue operation); nothing while off."""
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(name, attributes=attributes):
        yield
