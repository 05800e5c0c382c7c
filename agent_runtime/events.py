"""Everything the loop does is an event: one discriminated union on `type`.

The same events drive the CLI progress display, the SSE stream and the store.
Each carries the task id, a per-task sequence number (1, 2, 3, ...) and a
timestamp (epoch seconds). `model.delta` is the exception: a piece of streamed model
text, live only (no sequence number, never stored), outside the stored `Event` union.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

StopReason = Literal[
    "final_answer",  # the model answered
    "max_steps",
    "timeout",  # wall-clock guard
    "max_tokens",
    "max_cost",
    "cancelled",
    "error",  # model endpoint failure or internal error
]


class Usage(BaseModel):
    """Token counts, summed over model calls."""

    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class _Event(BaseModel):
    # Serialized events carry every field, defaults included: their JSON schema (the OpenAPI document's
    # `Event`) says so, which makes `type` a required discriminator.
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)

    task_id: str
    seq: int
    ts: float


class TaskStarted(_Event):
    type: Literal["task.started"] = "task.started"
    agent: str
    input: str
    session_id: str | None = None
    model: str
    offline: bool = False
    resumed: bool = False


class ModelTurn(_Event):
    """One model call: its visible thought text, the tool calls it asked for, its usage."""

    type: Literal["model.turn"] = "model.turn"
    step: int
    thought: str = ""
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)  # [{id, name, arguments}]
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    duration_ms: float = 0.0


class ModelDelta(BaseModel):
    """A piece of the model's text as it streams, for whoever watches now: live only. It has no seq
    (`null`), is never stored nor replayed (a stream resumed with Last-Event-ID gets none), and
    the `model.turn` of its step, stored after it, holds the whole text."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)

    type: Literal["model.delta"] = "model.delta"
    task_id: str
    seq: None = None
    ts: float
    step: int
    text: str


class ToolCallStarted(_Event):
    """A tool call starts; `retry` marks a call a resumed task runs again (an earlier attempt started it
    and left no result, so it may have run before: tools get the same call id, their idempotency key)."""

    type: Literal["tool.started"] = "tool.started"
    step: int
    call_id: str
    tool: str
    arguments: dict[str, Any] | str
    retry: bool = False


# How a tool call ended: a result, an error the model reads, or abandoned because the task was cancelled.
ToolOutcome = Literal["ok", "error", "cancelled"]


class ToolCallFinished(_Event):
    """A tool call ended; `outcome` is `cancelled` for a call abandoned by a cancel (its result, if it
    ever comes, is discarded). Events stored before `outcome` existed read it from `ok`."""

    type: Literal["tool.finished"] = "tool.finished"
    step: int
    call_id: str
    tool: str
    ok: bool
    duration_ms: float
    result: str = ""  # the observation, truncated for display and transport
    error: str | None = None
    outcome: ToolOutcome = "ok"

    @model_validator(mode="before")
    @classmethod
    def _outcome_from_ok(cls, data: Any) -> Any:
        if isinstance(data, dict) and "outcome" not in data and data.get("ok") is False:
            return {**data, "outcome": "error"}
        return data


class ApprovalRequested(_Event):
    type: Literal["approval.requested"] = "approval.requested"
    step: int
    call_id: str
    tool: str
    arguments: dict[str, Any]
    deadline: float  # epoch seconds; after it the call is decided by policy (default: rejected)


class ApprovalResolved(_Event):
    type: Literal["approval.resolved"] = "approval.resolved"
    step: int
    call_id: str
    tool: str
    approved: bool
    reason: str | None = None
    decided_by: str = "approver"  # approver | api (a principal's name) | timeout | policy | cancel


class _Terminal(_Event):
    steps: int
    usage: Usage
    cost_usd: float
    stop_reason: StopReason
    duration_ms: float = 0.0


class TaskFinished(_Terminal):
    type: Literal["task.finished"] = "task.finished"
    answer: str


class TaskFailed(_Terminal):
    type: Literal["task.failed"] = "task.failed"
    error: str
    answer: str | None = None  # the last thought, if any, when a guard stopped the task


class TaskCancelled(_Terminal):
    type: Literal["task.cancelled"] = "task.cancelled"
    reason: str = "cancelled"


Event = Annotated[
    TaskStarted
    | ModelTurn
    | ToolCallStarted
    | ToolCallFinished
    | ApprovalRequested
    | ApprovalResolved
    | TaskFinished
    | TaskFailed
    | TaskCancelled,
    Field(discriminator="type"),
]
# What a live stream carries: the stored events, and the live-only deltas between them.
LiveEvent = Annotated[Event | ModelDelta, Field(discriminator="type")]
TerminalEvent = TaskFinished | TaskFailed | TaskCancelled
TerminalState = Literal["succeeded", "failed", "cancelled"]
# The state a task ends in, by the type of its terminal event (the store, the worker's metrics and
# `TaskResult` all read it from here).
STATE_OF_TERMINAL_EVENT: dict[str, TerminalState] = {
    "task.finished": "succeeded",
    "task.failed": "failed",
    "task.cancelled": "cancelled",
}
TERMINAL_TYPES = frozenset(STATE_OF_TERMINAL_EVENT)

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: str | bytes | dict[str, Any]) -> Event:
    """Parse one event from JSON text or a dict (e.g. read back from a store)."""
    if isinstance(data, dict):
        return EVENT_ADAPTER.validate_python(data)
    return EVENT_ADAPTER.validate_json(data)


LIVE_EVENT_ADAPTER: TypeAdapter[Event | ModelDelta] = TypeAdapter(LiveEvent)


def parse_live_event(data: str | bytes | dict[str, Any]) -> Event | ModelDelta:
    """Parse one event of a live stream: a stored event or a `model.delta`."""
    if isinstance(data, dict):
        return LIVE_EVENT_ADAPTER.validate_python(data)
    return LIVE_EVENT_ADAPTER.validate_json(data)


def is_terminal(event: Event) -> bool:
    """Whether the event ends its task (the last event of every task is one)."""
    return event.type in TERMINAL_TYPES
