"""The store protocol: tasks, their event log, checkpoints, approvals, idempotency keys and session memory.

Two implementations: `SQLiteStore` (local server, tests) and `DynamoStore` (AWS, one
table). Writes that must not race - state transitions, leases, approval decisions,
idempotency keys - are conditional and raise `ConflictError` when they lose.

A task's state machine: queued -> running <-> waiting_approval -> succeeded | failed |
cancelled. A worker owns a running task through a lease (`lease_owner`, `lease_until`)
that it renews while it works; a task whose lease lapsed (its worker died) may be
claimed by another worker, which resumes it from its checkpoint.

A session is a sequence: `create_task` gives a task with a session its place in the session
(`session_seq`) and the task submitted before it (`session_prev`) with one conditional write, and
`claim_task` refuses a task whose predecessor has not ended (`SessionBusyError`), so the session's
tasks run one at a time in submit order, whichever workers hold them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from agent_runtime.checkpoint import Checkpoint
from agent_runtime.errors import NotFoundError, SessionBusyError
from agent_runtime.events import STATE_OF_TERMINAL_EVENT, Event, TerminalEvent, Usage
from agent_runtime.models.base import Message
from agent_runtime.principals import session_scope
from agent_runtime.quotas import QuotaCharge

TaskState = Literal["queued", "running", "waiting_approval", "succeeded", "failed", "cancelled"]
ACTIVE_STATES: frozenset[str] = frozenset({"queued", "running", "waiting_approval"})
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
ApprovalStatus = Literal["pending", "approved", "rejected"]
# What a submit on a session whose earlier task has not ended does: wait its turn, or refuse (409).
SessionBusyPolicy = Literal["queue", "reject"]

# Tasks, events and checkpoints expire after this long (DynamoDB TTL; SQLite purges on open).
DEFAULT_RETENTION_S = 30 * 86_400
IDEMPOTENCY_RETENTION_S = 86_400
SESSION_RETENTION_S = 90 * 86_400  # a session's order and memory expire this long after its last use
# A session's memory returns at most this many of its latest messages.
MAX_SESSION_MESSAGES = 1_000


@dataclass
class TaskRecord:
    """One task: what was asked, where it stands, and what it produced so far."""

    task_id: str
    agent: str
    input: str
    state: TaskState = "queued"
    session_id: str | None = None
    owner: str | None = None  # the principal that submitted it (None: before principals existed)
    metadata: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)  # overrides of the agent's limits
    created_at: float = 0.0
    updated_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    answer: str | None = None
    error: str | None = None
    stop_reason: str | None = None
    steps: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    last_seq: int = 0
    cancel_requested: bool = False
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: float = 0.0
    session_seq: int = 0  # the task's place in its session (1, 2, ...); 0 without a session
    session_prev: str | None = None  # the session's task submitted just before this one: it runs first
    trace_context: str | None = None  # the W3C traceparent of the request that submitted it (tracing on)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def session_key(self) -> str | None:
        """The key of the task's session, as its memory is kept: per agent and principal (`session_scope`)."""
        return session_scope(self.agent, self.owner) + self.session_id if self.session_id else None


@dataclass
class ApprovalRecord:
    """A sensitive tool call waiting for (or given) a human decision."""

    task_id: str
    call_id: str
    tool: str
    arguments: dict[str, Any]
    step: int
    deadline: float
    requested_at: float = 0.0
    status: ApprovalStatus = "pending"
    reason: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None

    @property
    def approved(self) -> bool:
        return self.status == "approved"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: its sequence number, type and JSON text (sent to clients as-is)."""

    seq: int
    type: str
    data: str


def event_row(event: Event) -> StoredEvent:
    """The event as both stores keep it: seq, type and its JSON text."""
    return StoredEvent(event.seq, event.type, event.model_dump_json())


def request_hash(payload: Any) -> str:
    """A stable digest of a request body, to tell a retried request from a different one."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def terminal_fields(event: TerminalEvent) -> dict[str, Any]:
    """The task fields a terminal event settles."""
    return {
        "state": STATE_OF_TERMINAL_EVENT[event.type],
        "answer": getattr(event, "answer", None),
        "error": getattr(event, "error", None) or (event.reason if event.type == "task.cancelled" else None),
        "stop_reason": event.stop_reason,
        "steps": event.steps,
        "usage": event.usage,
        "cost_usd": event.cost_usd,
        "last_seq": event.seq,
        "finished_at": event.ts,
    }


def trim_session(messages: list[Message]) -> list[Message]:
    """The latest messages of a session, starting at a user message so no tool result loses its call."""
    if len(messages) <= MAX_SESSION_MESSAGES:
        return messages
    tail = messages[-MAX_SESSION_MESSAGES:]
    for i, m in enumerate(tail):
        if m.get("role") == "user":
            return tail[i:]
    return []


def now() -> float:
    """The wall clock the stores stamp records with (seconds since the epoch)."""
    return time.time()


def checkpoint_header(cp: Checkpoint) -> dict[str, Any]:
    """A checkpoint without its messages; `count` says how many messages belong to it."""
    return {
        "step": cp.step, "usage": cp.usage.model_dump(), "cost_usd": cp.cost_usd, "seq": cp.seq,
        "pinned": cp.pinned, "pending_approvals": dict(cp.pending_approvals), "count": len(cp.messages),
        **({"attempt_span": cp.attempt_span} if cp.attempt_span else {}),
    }


def checkpoint_from_header(header: dict[str, Any], messages: list[Message]) -> Checkpoint:
    """The checkpoint again, from its stored header and its `count` messages."""
    return Checkpoint.from_dict({**header, "messages": messages})


def claim_conflict(task: TaskRecord) -> str:
    """Why a claim of the task lost: it ended, or another worker holds a live lease."""
    if task.terminal:
        return f"task {task.task_id} already {task.state}"
    return f"task {task.task_id} is being run by {task.lease_owner} (lease until {task.lease_until:.0f})"


def busy_session_error(prev: TaskRecord) -> SessionBusyError:
    """The error for a task whose session predecessor `prev` has not ended."""
    return SessionBusyError(f"task {prev.task_id} of the same session has not ended (it is {prev.state})",
                            waiting_for=prev.task_id)


async def waiting_for(store: Store, task: TaskRecord) -> str | None:
    """The id of the session predecessor a queued task waits for, while that task has not ended."""
    if task.session_prev is None or task.state != "queued":
        return None
    try:
        prev = await store.get_task(task.session_prev)
    except NotFoundError:  # purged: it ended long ago
        return None
    return None if prev.terminal else prev.task_id


def cancelled_conflict(task_id: str) -> str:
    """Why a write conditional on no cancel lost."""
    return f"task {task_id} was cancelled"


def decide_conflict(record: ApprovalRecord) -> str:
    """Why a decision on the approval lost: it was decided already, or its deadline passed."""
    if record.status != "pending":
        return f"approval {record.call_id} was already {record.status} by {record.decided_by}"
    return f"approval {record.call_id} expired: its deadline passed"


@dataclass(frozen=True, slots=True)
class ListPosition:
    """Where a newest-first listing of an agent's tasks stopped: the last task looked at (its creation time
    and id, the listing's order). The next page starts after it."""

    created_at: float
    task_id: str


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of a task listing, newest first; `next` is None when no older task is left to look at."""

    tasks: list[TaskRecord]
    next: ListPosition | None


def list_position(task: TaskRecord) -> ListPosition:
    """The listing position of a task."""
    return ListPosition(task.created_at, task.task_id)


@runtime_checkable
class Store(Protocol):
    """Durable state of tasks. Every method is async; implementations never block the event loop."""

    # -- tasks ---------------------------------------------------------------

    async def create_task(
        self, task: TaskRecord, *, idempotency_key: str | None = None, body_hash: str | None = None,
        session_busy: SessionBusyPolicy = "queue", quota: QuotaCharge | None = None,
    ) -> tuple[TaskRecord, bool]:
        """Store a new task; with an idempotency key, return the task created earlier with the same
        key and body instead (created=False). Same key, other body: `ConflictError`. A task with a
        session takes the session's next place (`session_seq`, `session_prev`) in the same write;
        with `session_busy="reject"`, `SessionBusyError` while the session's last task has not ended.
        With `quota`, the same write adds `quota.nbytes` to its counter, or raises `QuotaExceededError`
        (creating nothing) if that would pass `quota.limit`; a replay charges nothing."""
        ...

    async def get_task(self, task_id: str) -> TaskRecord:
        """The task, or `NotFoundError`."""
        ...

    async def claim_task(self, task_id: str, *, owner: str, lease_s: float) -> TaskRecord:
        """Make `owner` the task's worker: state -> running, attempts + 1, lease until now + lease_s.
        `ConflictError` if the task ended or another worker holds a live lease; `SessionBusyError` (a
        `ConflictError`) while its session predecessor has not ended."""
        ...

    async def renew_lease(self, task_id: str, *, owner: str, lease_s: float) -> TaskRecord:
        """Extend the owner's lease; `ConflictError` if the owner lost it or the task ended."""
        ...

    async def release_lease(self, task_id: str, *, owner: str, refund_attempt: bool = False) -> None:
        """Give the task up (worker shutting down) so another worker may claim it at once; with
        `refund_attempt` the interrupted attempt does not count towards the poison limit."""
        ...

    async def set_state(self, task_id: str, state: TaskState, *, from_states: Collection[str]) -> TaskRecord:
        """Move between non-terminal states (running <-> waiting_approval); `ConflictError` otherwise."""
        ...

    async def request_cancel(self, task_id: str) -> TaskRecord:
        """Flag an active task for cancellation; `ConflictError` if it already ended."""
        ...

    async def finish_task(
        self, task_id: str, event: TerminalEvent, *, owner: str | None = None,
        from_states: Collection[str] = ACTIVE_STATES, unless_cancelled: bool = False,
    ) -> TaskRecord:
        """Append the terminal event and settle the task in one write; `ConflictError` if the task is
        not in `from_states` (or, with `owner`, is not leased by it; with `unless_cancelled`, once its
        cancel was requested: a cancel the API accepted ends the task `cancelled`)."""
        ...

    async def active_tasks(self, agents: Collection[str]) -> list[TaskRecord]:
        """Tasks of these agents that have not ended (to re-enqueue them after a restart)."""
        ...

    async def list_tasks(
        self, agent: str, *, owner: str | None, state: TaskState | None = None, limit: int = 20,
        after: ListPosition | None = None,
    ) -> TaskPage:
        """The agent's tasks newest first (by `created_at`, then task id), after `after`: only `owner`'s
        (None: every principal's), only those in `state` if given, at most `limit`. A page may hold fewer
        than `limit` tasks while `next` is set (the store bounds the work of one page); read on from `next`."""
        ...

    # -- events and checkpoints ------------------------------------------------

    async def save_progress(
        self, task_id: str, *, events: Sequence[Event] = (), checkpoint: Checkpoint | None = None,
        saved_messages: int = 0, owner: str | None = None,
    ) -> bool:
        """Append events and, with a checkpoint, its messages from index `saved_messages` on plus its
        counters. Work is proportional to what is new. `ConflictError` if `owner` lost the lease.

        Returns the task's cancel flag as this write left it: the worker takes it as its cancel check
        before the tool calls that follow, instead of reading the task again."""
        ...

    async def list_events(self, task_id: str, *, after: int = 0, limit: int = 500) -> list[StoredEvent]:
        """Events with seq > after, in order."""
        ...

    async def last_seq(self, task_id: str) -> int:
        """The highest stored event seq of the task (0 when none)."""
        ...

    async def load_checkpoint(self, task_id: str) -> Checkpoint | None:
        """The task's latest checkpoint (None before its first), or `NotFoundError`."""
        ...

    # -- approvals -------------------------------------------------------------

    async def create_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        """Store a pending approval; if one exists for the call, return it unchanged (its deadline and
        any decision survive a worker restart)."""
        ...

    async def get_approval(self, task_id: str, call_id: str) -> ApprovalRecord:
        """The approval of one tool call, or `NotFoundError`."""
        ...

    async def list_approvals(self, task_id: str, *, pending_only: bool = False) -> list[ApprovalRecord]:
        """The task's approvals in the order they were requested."""
        ...

    async def decide_approval(
        self, task_id: str, call_id: str, *, approved: bool, reason: str | None, decided_by: str,
        enforce_deadline: bool = True, unless_cancelled: bool = False,
    ) -> ApprovalRecord:
        """Decide a pending approval. `ConflictError` if already decided or (when enforced) past its deadline,
        or (with `unless_cancelled`) once the task's cancel was requested, checked in the same write."""
        ...

    # -- session memory (the loop's Memory protocol) ----------------------------

    async def load(self, session_id: str) -> list[Message]:
        """The session's latest messages, trimmed by `trim_session`, oldest first."""
        ...

    async def append(self, session_id: str, messages: list[Message]) -> None:
        """Add a finished task's messages after the session's last one."""
        ...

    async def close(self) -> None:
        """Finish queued calls and release connections; no call may follow."""
        ...
