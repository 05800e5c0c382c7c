"""The trace of a task while tracing is off: every hook is a method call on a shared object that does
nothing and allocates nothing (`agent_runtime.tracing.spans.TaskTrace` is the real one, same methods)."""

from __future__ import annotations

from typing import Any


class NoopSpan:
    """A span that records nothing; one instance serves every hook."""

    __slots__ = ()

    def __enter__(self) -> NoopSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def reply(self, reply: Any) -> None:
        """The model's reply (a chat span)."""

    def result(self, ok: bool, error: str | None, error_type: str | None = None, text: str | None = None) -> None:
        """A tool call's outcome (an execute_tool span)."""

    def decision(self, decision: Any) -> None:
        """An approval's decision (an approval wait span)."""


NOOP_SPAN = NoopSpan()


class NoopTrace:
    """The hooks the loop calls, doing nothing."""

    __slots__ = ()

    def start(self, run: Any) -> None:
        """The task run begins: its root span (`invoke_agent`)."""

    def watch(self, emit: Any) -> Any:
        """The loop's event sink, as the trace wants to see it (unchanged while off)."""
        return emit

    def chat(self, model: Any, step: int, messages: Any) -> NoopSpan:
        return NOOP_SPAN

    def tool(self, call: Any) -> NoopSpan:
        return NOOP_SPAN

    def approval(self, call: Any) -> NoopSpan:
        return NOOP_SPAN

    def store(self, operation: str) -> NoopSpan:
        return NOOP_SPAN

    def close(self) -> None:
        """The run is over: end whatever is still open."""


NOOP = NoopTrace()
