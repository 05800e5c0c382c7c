"""1t. Our loop with tracing on: the runtime's spans through the SDK's batch processor and the OTLP/HTTP
exporter to a collector stand-in in a child process (`python -m bench.traced` serves `POST /v1/traces`).

The loop is `OurLoop` (tracing off: the figure of row 1) with a provider installed for each of its
tasks. The batch processor exports as it does in a busy server: a batch when 512 spans have ended
(its timer is set past the run, so it never exports on its own). The task in which a batch fills
waits for that export (encoding, one POST), so its CPU is counted in this loop's round, not in the
next loop's; it lands in about one round in thirteen (40 spans a task).
"""

from __future__ import annotations

import contextlib
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor

from bench.common import child_server
from bench.loops import OurLoop

BATCH = 512  # the batch processor's default export size


class _Count(SpanProcessor):
    """Counts the spans that ended (to know when the batch processor has a full batch to export)."""

    def __init__(self) -> None:
        self.count = 0

    def on_end(self, span: Any) -> None:
        self.count += 1


class TracedLoop(OurLoop):
    name = "traced"

    def __init__(self, base_url: str, *, max_steps: int = 50, concurrency: int = 1) -> None:
        super().__init__(base_url, max_steps=max_steps, concurrency=concurrency)
        self.ended = _Count()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self._sink = contextlib.ExitStack()
        url = self._sink.enter_context(child_server("bench.traced", what="the OTLP collector stand-in"))
        self.provider = TracerProvider()
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces"),
                                                            max_export_batch_size=BATCH, schedule_delay_millis=3_600_000))
        self.provider.add_span_processor(self.ended)

    async def task(self, text: str) -> int:
        from agent_runtime import tracing

        tracing.install(self.provider)
        try:
            return await super().task(text)
        finally:
            tracing.uninstall()
            if self.ended.count >= BATCH:  # a batch was filled: its export is under way, wait for it
                self.provider.force_flush()
                self.ended.count = 0

    async def aclose(self) -> None:
        await super().aclose()
        self.provider.shutdown()
        self._sink.close()


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
