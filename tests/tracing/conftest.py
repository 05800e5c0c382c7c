"""Tracing on, into the SDK's in-memory exporter, for one test; off again after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent_runtime import tracing


class Spans:
    """The finished spans of the test, by name."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    @property
    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.all if s.name.startswith(prefix)]

    def one(self, prefix: str) -> ReadableSpan:
        found = self.named(prefix)
        assert len(found) == 1, f"{len(found)} spans named {prefix!r}: {[s.name for s in self.all]}"
        return found[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in self.all if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _install(capture: bool) -> tuple[Spans, TracerProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider, capture=capture)
    return Spans(exporter), provider


@pytest.fixture
def spans() -> Iterator[Spans]:
    recorded, provider = _install(capture=False)
    yield recorded
    tracing.uninstall()
    provider.shutdown()


@pytest.fixture
def captured_spans() -> Iterator[Spans]:
    recorded, provider = _install(capture=True)
    yield recorded
    tracing.uninstall()
    provider.shutdown()
