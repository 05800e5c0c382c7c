"""`agent-platform run ... --trace`: the task's spans as a tree, printed after the answer, so a user sees
where the time went without running a tracing backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from agent_runtime import tracing

# What each kind of span shows beside its name and duration: (attribute, label).
SHOWN: tuple[tuple[str, str], ...] = (
    ("agent_platform.task.outcome", "outcome"),
    ("agent_platform.task.steps", "steps"),
    ("agent_platform.task.total_tokens", "tokens"),
    ("gen_ai.usage.input_tokens", "in"),
    ("gen_ai.usage.output_tokens", "out"),
    ("gen_ai.response.finish_reasons", "finish"),
    ("http.request.resend_count", "retries"),
    ("gen_ai.tool.call.id", "call"),
    ("agent_platform.tool.outcome", "outcome"),
    ("error.type", "error"),
    ("agent_platform.approval.approved", "approved"),
    ("agent_platform.approval.decided_by", "by"),
    ("agent_platform.cost_usd", "cost"),
)


def _label(span: Any) -> str:
    attributes = span.attributes or {}
    ms = ((span.end_time or span.start_time) - span.start_time) / 1e6
    parts = [f"{span.name}  {ms:,.1f} ms"]
    for key, label in SHOWN:
        if key not in attributes:
            continue
        value = attributes[key]
        if key == "agent_platform.cost_usd":
            value = f"${value:.4f}"
        elif isinstance(value, tuple | list):
            value = ",".join(str(v) for v in value)
        elif key == "http.request.resend_count" and not value:
            continue
        parts.append(f"{label}={value}")
    return "  ".join(parts)


def render(spans: Sequence[Any]) -> list[str]:
    """The spans as indented lines, children under their parent in start order; roots are the spans
    whose parent is not among them."""
    ids = {s.context.span_id for s in spans}
    children: dict[int | None, list[Any]] = {}
    for span in sorted(spans, key=lambda s: s.start_time):
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(span: Any, prefix: str, last: bool, top: bool) -> None:
        lines.append(_label(span) if top else f"{prefix}{'└─ ' if last else '├─ '}{_label(span)}")
        below = children.get(span.context.span_id, [])
        inner = "" if top else prefix + ("   " if last else "│  ")
        for i, child in enumerate(below):
            walk(child, inner, i == len(below) - 1, False)

    for root in children.get(None, []):
        walk(root, "", True, True)
    return lines


@contextmanager
def traced_run(*, show: bool, print_line: Any) -> Iterator[None]:
    """Tracing for one CLI run: exported as the OTel variables say, and with `show` also kept in memory and
    printed as a tree (line by line through `print_line`) at the end; flushed before the command exits."""
    memory = None
    if show:
        from agent_runtime.tracing.sdk import collecting_provider

        provider, memory = collecting_provider()
        tracing.install(provider, capture=tracing.capture_content())
    else:
        tracing.setup()
    try:
        yield
    finally:
        tracing.shutdown()
        if memory is not None:
            for line in render(memory.get_finished_spans()):
                print_line(line)
