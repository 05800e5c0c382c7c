"""The seams between a run of the loop and whoever makes it durable: the checkpoint it saves and the
approvals it asks for.

A neutral module: the loop, the worker and the stores all use these types, so none of them has to import
another for them.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.events import Usage
from agent_runtime.models.base import Message


@dataclass(slots=True)
class ApprovalRequest:
    """A sensitive tool call waiting for a human decision."""

    task_id: str
    call_id: str
    tool: str
    arguments: dict[str, Any]
    deadline: float
    step: int


@dataclass(slots=True)
class ApprovalDecision:
    """The answer to an `ApprovalRequest`; a rejection's reason reaches the model."""

    approved: bool
    reason: str | None = None
    decided_by: str = "approver"


Approver = Callable[[ApprovalRequest], Awaitable[ApprovalDecision]]


class DeadlineApprover(abc.ABC):
    """An approver that settles every request by its deadline itself (e.g. by a stored policy).

    The loop puts a deadline around any other approver; around this one it puts none, so the decision
    such an approver records is the one the model sees.
    """

    @abc.abstractmethod
    async def __call__(self, request: ApprovalRequest) -> ApprovalDecision:
        """The decision, at the latest when the request's deadline has passed."""

    async def withdraw(self, task_id: str, call_id: str, reason: str) -> ApprovalDecision:
        """The task was cancelled while the call waited: reject it with `reason` (a durable approver
        records the rejection, so the call can never be approved later)."""
        return ApprovalDecision(False, reason, "cancel")


@dataclass
class TurnLog:
    """What the event log holds about the approvals of a resumed task's last turn.

    A resumed loop takes a call found in `requested` as announced (it never emits a second
    `approval.requested`) and a call found in `resolved` as decided (no second `approval.resolved`).
    """

    requested: dict[str, float] = field(default_factory=dict)  # call id -> the announced deadline
    resolved: dict[str, ApprovalDecision] = field(default_factory=dict)  # call id -> the recorded decision


@dataclass
class Checkpoint:
    """What a worker needs to resume a task: the conversation so far and the counters.

    `messages` only grows during a task, so a store may persist just the messages
    added since its last save.
    """

    step: int = 0
    messages: list[Message] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    seq: int = 0
    pinned: int = 1  # index of the task's user message in `messages`
    pending_approvals: dict[str, float] = field(default_factory=dict)  # call id -> deadline
    # The traceparent of the attempt that saved it (with tracing on): the next attempt's span links to it.
    attempt_span: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint as plain JSON-ready data."""
        data = {
            "step": self.step,
            "messages": self.messages,
            "usage": self.usage.model_dump(),
            "cost_usd": self.cost_usd,
            "seq": self.seq,
            "pinned": self.pinned,
            "pending_approvals": self.pending_approvals,
        }
        if self.attempt_span:
            data["attempt_span"] = self.attempt_span
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        """A checkpoint from `to_dict()` data (as read back from a store)."""
        return cls(
            step=int(data["step"]),
            messages=list(data["messages"]),
            usage=Usage.model_validate(data.get("usage") or {}),
            cost_usd=float(data.get("cost_usd", 0.0)),
            seq=int(data.get("seq", 0)),
            pinned=int(data.get("pinned", 1)),
            pending_approvals={k: float(v) for k, v in (data.get("pending_approvals") or {}).items()},
            attempt_span=data.get("attempt_span") if isinstance(data.get("attempt_span"), str) else None,
        )


# Stores a checkpoint; may return the store's cancel flag as that write left it (None: not known), which
# the loop then takes as its cancel check before the tool calls that follow (no separate read).
CheckpointSink = Callable[[Checkpoint], Awaitable[bool | None]]
