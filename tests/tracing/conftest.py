"""Tracing on, into the SDK's in-memory exporter, for one test; off again after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def _installed(capture: bool) -> Iterator[Spans]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider, capture=capture)
    try:
        yield Spans(exporter)
    finally:
        tracing.uninstall()
        provider.shutdown()


@pytest.fixture
def spans() -> Iterator[Spans]:
    with _installed(capture=False) as recorded:
        yield recorded


@pytest.fixture
def captured_spans() -> Iterator[Spans]:
    with _installed(capture=True) as recorded:
        yield recorded
