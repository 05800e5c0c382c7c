"""The tracer provider, built from the standard OpenTelemetry environment variables.

`OTEL_TRACES_EXPORTER` names the exporters (`otlp`, `console`, comma separated; `otlp` when only an
endpoint is set); the OTLP exporter is OTLP/HTTP with protobuf, sending to `OTEL_EXPORTER_OTLP_ENDPOINT`
(or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) from a batch processor. Sampling (`OTEL_TRACES_SAMPLER`,
`OTEL_TRACES_SAMPLER_ARG`), the resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`) and the batch
processor (`OTEL_BSP_*`) are read by the SDK itself. An endpoint of X-Ray's (`https://xray.<region>.
amazonaws.com`) gets its requests signed with the process's AWS credentials (`agent_runtime.tracing.sigv4`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent_runtime.errors import ConfigurationError
from agent_runtime.tracing import EXPORTERS

DEFAULT_SERVICE_NAME = "agent-platform"


def _service_resource(environ: Mapping[str, str]) -> Resource:
    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    return Resource.create({} if named else {"service.name": DEFAULT_SERVICE_NAME})


def processors_from_env(environ: Mapping[str, str] | None = None) -> list[SpanProcessor]:
    """The span processors the environment asks for (none when it asks for no traces)."""
    from agent_runtime.tracing import configured

    environ = os.environ if environ is None else environ
    if not configured(environ):
        return []
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",") if n.strip()]
    unknown = sorted(set(names) - set(EXPORTERS))
    if unknown:
        raise ConfigurationError(f"OTEL_TRACES_EXPORTER: unknown exporter(s) {', '.join(unknown)}; "
                                 f"use {', '.join(EXPORTERS)}")
    processors: list[SpanProcessor] = []
    if "otlp" in names:
        protocol = (environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                    or "http/protobuf")
        if protocol != "http/protobuf":
            raise ConfigurationError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: only http/protobuf is installed "
                                     "(send gRPC through a collector)")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        from agent_runtime.tracing.sigv4 import signed_session, xray_region

        traces_url = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        base_url = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        region = xray_region(traces_url or base_url)
        if region is None:
            exporter = OTLPSpanExporter()
        else:  # signed; sent where every AWS call of the process goes when an endpoint overrides AWS's (moto)
            override = environ.get("AWS_ENDPOINT_URL_XRAY") or environ.get("AWS_ENDPOINT_URL")
            url = override or traces_url or base_url or ""
            if override or not traces_url:
                url = f"{url.rstrip('/')}/v1/traces"
            exporter = OTLPSpanExporter(endpoint=url, session=signed_session(region))
        processors.append(BatchSpanProcessor(exporter))
    if "console" in names:
        processors.append(SimpleSpanProcessor(ConsoleSpanExporter()))
    return processors


def provider_from_env(environ: Mapping[str, str] | None = None,
                      extra: list[SpanProcessor] | None = None) -> TracerProvider:
    """A provider exporting as the environment says, plus the `extra` processors given."""
    environ = os.environ if environ is None else environ
    provider = TracerProvider(resource=_service_resource(environ))
    for processor in [*processors_from_env(environ), *(extra or [])]:
        provider.add_span_processor(processor)
    return provider


def collecting_provider(environ: Mapping[str, str] | None = None) -> tuple[TracerProvider, InMemorySpanExporter]:
    """A provider that also keeps every finished span in memory (`run --trace` prints them)."""
    memory = InMemorySpanExporter()
    return provider_from_env(environ, [SimpleSpanProcessor(memory)]), memory
