"""The spans of one task run, named and attributed as the OpenTelemetry GenAI semantic conventions say.

    invoke_agent {agent}            the run (one per attempt; a resumed attempt links to the one before)
      chat {model}                  one model call: tokens, finish reason, retries (http.request.resend_count)
      execute_tool {tool}           one tool call: call id, outcome, error type; current while the tool
        wait_approval {tool}        runs, so a Lambda tool carries its context into the function
      save_checkpoint               a checkpoint write (the store's latency on the task's path)

Prompts, completions, tool arguments and results are recorded only with content capture on.
Imported only while tracing is on (`agent_runtime.tracing`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import Token
from typing import Any, Self

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from agent_runtime.events import STATE_OF_TERMINAL_EVENT, is_terminal

INSTRUMENTATION = "agent_runtime"
# The attributes of this platform that the conventions have no name for.
TASK_ID = "agent_platform.task.id"
STEP = "agent_platform.step"


def tracer_of(provider: Any) -> trace.Tracer:
    return provider.get_tracer(INSTRUMENTATION)


def traceparent_of(span: trace.Span) -> str:
    """The span's context as a W3C `traceparent` value."""
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def span_context_of(traceparent: str | None) -> trace.SpanContext | None:
    """The span context a stored `traceparent` names, or None when it is missing or malformed."""
    if not traceparent:
        return None
    ctx = trace.get_current_span(propagate.extract({"traceparent": traceparent})).get_span_context()
    return ctx if ctx.is_valid else None


def inject() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def attached(carrier: Mapping[str, str]) -> Iterator[None]:
    token = otel_context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def server_span(tracer: trace.Tracer, name: str, headers: Mapping[str, str],
                attributes: Mapping[str, Any]) -> Iterator[str]:
    """A SERVER span for a request, the child of the caller's `traceparent` if it sent one; yields the span's
    own traceparent. A refusal (an exception with a 4xx `status`) is the caller's fault, not the server's: its
    span is not an error (the HTTP conventions); a 5xx or any other exception is."""
    parent = propagate.extract({k.lower(): v for k, v in headers.items() if k.lower() in ("traceparent", "tracestate")})
    with tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes,
                                      record_exception=False, set_status_on_exception=False) as span:
        try:
            yield traceparent_of(span)
        except Exception as exc:
            status = getattr(exc, "status", None)
            status = status if isinstance(status, int) else 500
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                _failed(span, str(status) if hasattr(exc, "status") else type(exc).__qualname__, str(exc))
            raise


def _failed(span: trace.Span, error_type: str, description: str | None = None) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, description))


class _Span:
    """A span started on `__enter__` and ended on `__exit__` (an exception marks it failed)."""

    def __init__(self, tracer: trace.Tracer, name: str, attributes: dict[str, Any], *, kind: SpanKind,
                 current: bool = False) -> None:
        self.tracer, self.name, self.attributes, self.kind, self.current = tracer, name, attributes, kind, current
        self.span: trace.Span = trace.INVALID_SPAN
        self.token: Token[Context] | None = None

    def __enter__(self) -> Self:
        self.span = self.tracer.start_span(self.name, kind=self.kind, attributes=self.attributes)
        if self.current:
            self.token = otel_context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if kind is not None:
            # A cancel (BaseException) is no failure of the operation's own: typed apart from errors.
            _failed(self.span, kind.__qualname__ if issubclass(kind, Exception) else "cancelled", str(exc) or None)
        if self.token is not None:
            otel_context.detach(self.token)
        self.span.end()


class ChatSpan(_Span):
    def __init__(self, tracer: trace.Tracer, capture: bool, attributes: dict[str, Any]) -> None:
        super().__init__(tracer, f"chat {attributes['gen_ai.request.model']}", attributes, kind=SpanKind.CLIENT)
        self.capture = capture

    def reply(self, reply: Any) -> None:
        span = self.span
        span.set_attribute("gen_ai.usage.input_tokens", reply.usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", reply.usage.completion_tokens)
        span.set_attribute("gen_ai.response.finish_reasons", [reply.finish_reason or
                                                               ("stop" if reply.is_final else "tool_calls")])
        span.set_attribute("http.request.resend_count", reply.retries)
        span.set_attribute("agent_platform.cost_usd", reply.cost_usd)
        if reply.format_error is not None:
            span.set_attribute("agent_platform.format_error", True)
        if self.capture:
            span.set_attribute("gen_ai.output.messages", json.dumps([reply.assistant_message()], default=str))


class ToolSpan(_Span):
    def __init__(self, tracer: trace.Tracer, capture: bool, call: Any) -> None:
        attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.name,
                      "gen_ai.tool.call.id": call.id, "gen_ai.tool.type": "function"}
        if capture:
            attributes["gen_ai.tool.call.arguments"] = call.arguments
        super().__init__(tracer, f"execute_tool {call.name}", attributes, kind=SpanKind.INTERNAL, current=True)
        self.capture = capture

    def result(self, ok: bool, error: str | None, error_type: str | None = None, text: str | None = None) -> None:
        self.span.set_attribute("agent_platform.tool.outcome", "ok" if ok else "error")
        if not ok:
            _failed(self.span, error_type or "tool_error", error)
        if self.capture and text is not None:
            self.span.set_attribute("gen_ai.tool.call.result", text)


class ApprovalSpan(_Span):
    def __init__(self, tracer: trace.Tracer, call: Any) -> None:
        super().__init__(tracer, f"wait_approval {call.name}",
                         {"gen_ai.tool.name": call.name, "gen_ai.tool.call.id": call.id}, kind=SpanKind.INTERNAL)

    def decision(self, decision: Any) -> None:
        self.span.set_attribute("agent_platform.approval.approved", decision.approved)
        self.span.set_attribute("agent_platform.approval.decided_by", decision.decided_by)


class TaskTrace:
    """The spans of one run; the loop calls these hooks (the same as `NoopTrace`'s)."""

    def __init__(self, tracer: trace.Tracer, *, capture: bool) -> None:
        self.tracer, self.capture = tracer, capture
        self.root: trace.Span | None = None
        self.token: Token[Context] | None = None
        self.provider_name = "offline"

    def start(self, run: Any) -> None:
        agent, model = run.agent.spec.name, run.agent.model
        self.provider_name = "offline" if model.offline else "openai"
        earlier = span_context_of(run.resume.attempt_span if run.resume is not None else None)
        links = [Link(earlier, {"agent_platform.link": "previous_attempt"})] if earlier else []
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.request.model": model.name,
            "gen_ai.provider.name": self.provider_name, TASK_ID: run.task_id,
            "agent_platform.resumed": run.resume is not None,
        }
        if run.session_id:
            attributes["gen_ai.conversation.id"] = run.session_id
        if self.capture:
            attributes["gen_ai.system_instructions"] = run.agent.spec.instructions
        self.root = self.tracer.start_span(f"invoke_agent {agent}", kind=SpanKind.INTERNAL, attributes=attributes,
                                           links=links)
        self.token = otel_context.attach(trace.set_span_in_context(self.root))
        run.cp.attempt_span = traceparent_of(self.root)  # saved with the checkpoint: a resume links to it

    def watch(self, emit: Any) -> Any:
        def sink(event: Any) -> None:
            emit(event)
            if is_terminal(event):
                self._finish(event)

        return sink

    def _finish(self, event: Any) -> None:
        root = self.root
        if root is None:
            return
        root.set_attribute("agent_platform.task.outcome", STATE_OF_TERMINAL_EVENT[event.type])
        root.set_attribute("agent_platform.task.stop_reason", event.stop_reason)
        root.set_attribute("agent_platform.task.steps", event.steps)
        root.set_attribute("gen_ai.usage.input_tokens", event.usage.prompt_tokens)
        root.set_attribute("gen_ai.usage.output_tokens", event.usage.completion_tokens)
        root.set_attribute("agent_platform.task.total_tokens", event.usage.total_tokens)
        root.set_attribute("agent_platform.cost_usd", event.cost_usd)
        if event.type == "task.failed":
            _failed(root, event.stop_reason, event.error)
        elif self.capture and getattr(event, "answer", None):
            root.set_attribute("gen_ai.output.messages", json.dumps([{"role": "assistant", "content": event.answer}]))
        root.end()
        self.root = None

    def chat(self, model: Any, step: int, messages: Any) -> ChatSpan:
        attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model.name,
                                      "gen_ai.provider.name": self.provider_name, STEP: step}
        if self.capture:
            attributes["gen_ai.input.messages"] = json.dumps(messages, default=str)
        return ChatSpan(self.tracer, self.capture, attributes)

    def tool(self, call: Any) -> ToolSpan:
        return ToolSpan(self.tracer, self.capture, call)

    def approval(self, call: Any) -> ApprovalSpan:
        return ApprovalSpan(self.tracer, call)

    def store(self, operation: str) -> _Span:
        return _Span(self.tracer, operation, {"db.operation.name": operation}, kind=SpanKind.CLIENT)

    def close(self) -> None:
        if self.root is not None:  # no terminal event: handed back (the worker stops), or the consumer went away
            self.root.set_attribute("agent_platform.task.outcome", "interrupted")  # a later attempt links to it
            self.root.end()
            self.root = None
        if self.token is not None:
            otel_context.detach(self.token)
            self.token = None
