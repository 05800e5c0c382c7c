"""Request and response bodies of the task API (their JSON schemas are the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo

from agent_runtime import events
from agent_runtime.limits import Limits
from agent_runtime.store.base import ApprovalRecord, TaskRecord, TaskState

MAX_INPUT_CHARS = 32_000
MAX_METADATA_KEYS = 32
SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def _numbers_only(cls: type, data: Any) -> Any:
    """JSON numbers only: no `false` taken as 0, no "3" taken as 3 (1.0 for an integer is fine)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, bool | str):
                raise ValueError(f"{key} must be a number")
    return data


def _optional(field: FieldInfo) -> tuple[Any, FieldInfo]:
    info = FieldInfo.merge_field_infos(field, default=None)
    return field.annotation | None, info  # type: ignore[operator]


# Every field of `Limits`, optional: a task may override some of its agent's limits.
LimitsOverride: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "LimitsOverride",
    __config__=ConfigDict(extra="forbid"),
    __validators__={"_numbers_only": model_validator(mode="before")(_numbers_only)},
    __doc__="Overrides of the agent's limits; fields left out keep the agent's value.",
    **{name: _optional(f) for name, f in Limits.model_fields.items()},
)

MetadataKey = Annotated[str, Field(min_length=1, max_length=64)]
MetadataValue = Annotated[str, Field(max_length=1024)] | int | float | bool | None


class SubmitTask(BaseModel):
    """A task for an agent."""

    model_config = ConfigDict(extra="forbid")

    # Not blank: at least one character that is not whitespace in any engine that reads this pattern
    # (\x1c-\x1f: Python only; \x85: Python and Rust (pydantic), not ECMAScript (OpenAPI clients and
    # fuzzers); \ufeff: ECMAScript only), so the document and the server agree on what "blank" is.
    input: str = Field(min_length=1, max_length=MAX_INPUT_CHARS, pattern=r"[^\s\x1c-\x1f\x85\ufeff]",
                       description="what the agent should do")
    session_id: str | None = Field(
        None, pattern=SESSION_ID_PATTERN, description="tasks with the same session id share conversation memory"
    )
    metadata: dict[MetadataKey, MetadataValue] = Field(
        default_factory=dict, max_length=MAX_METADATA_KEYS, description="caller's labels, returned as given"
    )
    limits: LimitsOverride | None = None  # type: ignore[valid-type]

    @field_validator("input")
    @classmethod
    def _input_text(cls, value: str) -> str:
        return _encodable(value)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
        for key, item in value.items():
            _encodable(key)
            if isinstance(item, str):
                _encodable(item)
        return value

    def limit_overrides(self) -> dict[str, Any]:
        return self.limits.model_dump(exclude_none=True) if self.limits is not None else {}


class DecideApproval(BaseModel):
    """A human decision on a sensitive tool call."""

    model_config = ConfigDict(extra="forbid", strict=True)

    approve: bool
    reason: str | None = Field(None, max_length=2_000)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str | None) -> str | None:
        return _encodable(value) if value is not None else None


class Links(BaseModel):
    self: str
    events: str
    cancel: str


class UsageView(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ApprovalView(BaseModel):
    call_id: str
    tool: str
    arguments: dict[str, Any]
    step: int
    deadline: float = Field(description="epoch seconds; after it the call is decided by policy (default: rejected)")
    requested_at: float
    status: Literal["pending", "approved", "rejected"]
    reason: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    decide: str = Field(description="POST here to decide")

    @classmethod
    def of(cls, a: ApprovalRecord, base: str) -> ApprovalView:
        return cls(
            call_id=a.call_id, tool=a.tool, arguments=a.arguments, step=a.step, deadline=a.deadline,
            requested_at=a.requested_at, status=a.status, reason=a.reason, decided_by=a.decided_by,
            decided_at=a.decided_at, decide=f"{base}/approvals/{a.call_id}",
        )


def task_links(agent: str, task_id: str) -> Links:
    base = f"/v1/agents/{agent}/tasks/{task_id}"
    return Links(self=base, events=f"{base}/events", cancel=f"{base}/cancel")


class TaskAccepted(BaseModel):
    task_id: str
    agent: str
    state: TaskState
    created_at: float
    links: Links


class TaskView(BaseModel):
    """A task: its state, result, stop reason, steps, usage, cost, timestamps and pending approvals."""

    task_id: str
    agent: str
    state: TaskState
    input: str
    session_id: str | None
    owner: str | None = Field(description="the principal that submitted it")
    metadata: dict[str, Any]
    limits: dict[str, Any] = Field(description="the limits this task overrides")
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    answer: str | None
    error: str | None
    stop_reason: str | None
    steps: int
    usage: UsageView
    cost_usd: float
    last_seq: int = Field(description="sequence number of the latest stored event")
    cancel_requested: bool
    attempts: int
    pending_approvals: list[ApprovalView]
    waiting_for: str | None = Field(None, description="while queued: the id of the task submitted before it on "
                                    "its session, which has not ended yet (a session runs one task at a time)")
    links: Links

    @classmethod
    def of(cls, t: TaskRecord, approvals: list[ApprovalRecord], *, waiting_for: str | None = None) -> TaskView:
        links = task_links(t.agent, t.task_id)
        return cls(
            task_id=t.task_id, agent=t.agent, state=t.state, input=t.input, session_id=t.session_id,
            owner=t.owner, metadata=t.metadata, limits=t.limits, created_at=t.created_at, updated_at=t.updated_at,
            started_at=t.started_at, finished_at=t.finished_at, answer=t.answer, error=t.error,
            stop_reason=t.stop_reason, steps=t.steps,
            usage=UsageView(prompt_tokens=t.usage.prompt_tokens, completion_tokens=t.usage.completion_tokens,
                            total_tokens=t.usage.total_tokens),
            cost_usd=t.cost_usd, last_seq=t.last_seq, cancel_requested=t.cancel_requested, attempts=t.attempts,
            pending_approvals=[ApprovalView.of(a, links.self) for a in approvals], waiting_for=waiting_for,
            links=links,
        )


class ApprovalList(BaseModel):
    """A task's approvals, in the order they were requested."""

    approvals: list[ApprovalView]


class Event(RootModel[events.Event]):
    """One event of a task, told apart by `type` (the SSE stream's `data`, the JSON page's `events`)."""


class EventsPage(BaseModel):
    """Events after a sequence number, for clients that poll instead of streaming."""

    task_id: str
    events: list[Event]
    next_after: int = Field(description="pass as ?after= to get the events that follow")
    done: bool = Field(description="true when the task's terminal event is in this page or was before it")
    state: TaskState


class ToolView(BaseModel):
    name: str
    description: str
    sensitive: bool


class AgentView(BaseModel):
    name: str
    description: str
    tools: list[ToolView]
    limits: dict[str, Any]


class AgentsView(BaseModel):
    agents: list[AgentView]


class Health(BaseModel):
    status: Literal["ok"]
    agents: list[str]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    """Every error response: `{"error": {"code", "message"}}`."""

    error: ErrorDetail
