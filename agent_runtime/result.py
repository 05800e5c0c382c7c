"""What `Agent.run()` returns: the end of a task, read from its terminal event, with all its events."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent_runtime.events import (
    STATE_OF_TERMINAL_EVENT,
    Event,
    StopReason,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TerminalState,
    Usage,
)

TaskStatus = TerminalState


@dataclass
class TaskResult:
    """How a task ended (status, answer or error, stop reason), what it cost, and every event it emitted."""

    task_id: str
    agent: str
    status: TaskStatus
    answer: str | None
    stop_reason: StopReason
    steps: int
    usage: Usage
    cost_usd: float
    duration_ms: float
    error: str | None = None
    events: list[Event] = field(default_factory=list)


def result_from(events: list[Event], agent: str) -> TaskResult:
    """The result of a task from its events; the last one must be terminal."""
    last = events[-1]
    if not isinstance(last, TaskFinished | TaskFailed | TaskCancelled):  # pragma: no cover - the loop ends so
        raise RuntimeError(f"stream ended without a terminal event: {last.type}")
    answer: str | None = None if isinstance(last, TaskCancelled) else last.answer
    error: str | None = None
    if isinstance(last, TaskCancelled):
        error = last.reason
    elif isinstance(last, TaskFailed):
        error = last.error
    return TaskResult(
        task_id=last.task_id, agent=agent, status=STATE_OF_TERMINAL_EVENT[last.type], answer=answer,
        stop_reason=last.stop_reason, steps=last.steps, usage=last.usage, cost_usd=last.cost_usd,
        duration_ms=last.duration_ms, error=error, events=events,
    )
