"""Who decides a sensitive tool call, and by when.

Locally an approver is any async callable (`deny_all` when none is given); the loop puts the
request's deadline around it with `until_deadline`. A worker uses `DurableApprover`, the one owner of
a durable approval: it stores the record, waits for the decision the API stores, settles it by the
timeout policy at the deadline and records that outcome. The worker only moves the task's state.
"""

from __future__ import annotations

import asyncio
import json
import time

from agent_runtime.checkpoint import (
    ApprovalDecision,
    ApprovalRequest,
    Approver,
    Checkpoint,
    DeadlineApprover,
    TurnLog,
)
from agent_runtime.errors import ConflictError, NotFoundError
from agent_runtime.events import ApprovalRequested, ApprovalResolved, ModelTurn
from agent_runtime.limits import ApprovalTimeoutPolicy
from agent_runtime.store.base import ApprovalRecord, Store, StoredEvent
from agent_runtime.store.notify import Notifier


async def deny_all(request: ApprovalRequest) -> ApprovalDecision:
    """The approver used when none is given: sensitive calls need a human."""
    return ApprovalDecision(False, "no approver is available to confirm this sensitive action", "policy")


def until_deadline(approver: Approver) -> Approver:
    """`approver`, with a request it has not decided by the request's deadline rejected as timed out."""

    async def approve(request: ApprovalRequest) -> ApprovalDecision:
        try:
            async with asyncio.timeout(max(0.0, request.deadline - time.time())):
                return await approver(request)
        except TimeoutError:
            return ApprovalDecision(False, "no decision before the approval deadline", "timeout")

    return approve


class DurableApprover(DeadlineApprover):
    """Approvals kept in the store, so a decision survives restarts and may come from another container.

    `open()` stores the pending record; the worker calls it when the loop's `approval.requested` event
    arrives, before clients can see that event, so whoever reads it can decide at once. Calling the
    approver then waits for the stored decision (woken early by the in-process API through the
    notifier, else polling) and, at the deadline, settles the approval by `policy`. The settling write
    is conditional, so a human decision that comes later is a conflict, and a decision stored while no
    worker ran counts even after the deadline.
    """

    def __init__(self, store: Store, notifier: Notifier, *, policy: ApprovalTimeoutPolicy = "deny",
                 poll_s: float = 1.0) -> None:
        self.store, self.notifier, self.policy, self.poll_s = store, notifier, policy, poll_s

    async def open(self, event: ApprovalRequested) -> ApprovalRecord:
        """Store the pending approval the event announces; on a resumed task, the one stored before
        (its deadline and any decision survive)."""
        return await self.store.create_approval(ApprovalRecord(
            task_id=event.task_id, call_id=event.call_id, tool=event.tool, arguments=event.arguments,
            step=event.step, deadline=event.deadline, requested_at=time.time()))

    async def turn_log(self, task_id: str, checkpoint: Checkpoint | None) -> TurnLog:
        """The approvals the event log holds for the checkpoint's last turn (empty for a fresh task).

        The log, not the checkpoint, is the record of what was announced: a crash may fall between
        storing an event and the next checkpoint, and a sibling call's checkpoint may already have
        dropped a resolved call from `pending_approvals`.
        """
        log = TurnLog()
        if checkpoint is None:
            return log
        for event in await last_turn_events(self.store, task_id, checkpoint):
            data = json.loads(event.data)
            if event.type == ApprovalRequested.model_fields["type"].default:
                log.requested[data["call_id"]] = float(data["deadline"])
            elif event.type == ApprovalResolved.model_fields["type"].default:
                log.resolved[data["call_id"]] = ApprovalDecision(bool(data["approved"]), data.get("reason"),
                                                                 data.get("decided_by") or "approver")
        return log

    async def withdraw(self, task_id: str, call_id: str, reason: str) -> ApprovalDecision:
        """Reject the pending approval because the task was cancelled (a decision stored first counts:
        the call does not run either way, the task being cancelled)."""
        try:
            record = await self.store.decide_approval(task_id, call_id, approved=False, reason=reason,
                                                      decided_by="cancel", enforce_deadline=False)
        except NotFoundError:
            return ApprovalDecision(False, reason, "cancel")
        except ConflictError:
            record = await self.store.get_approval(task_id, call_id)
        return ApprovalDecision(record.approved, record.reason, record.decided_by or "approver")

    async def __call__(self, request: ApprovalRequest) -> ApprovalDecision:
        """The stored decision, or the policy's once the deadline passed; `open()` stored the request."""
        record = await self.store.get_approval(request.task_id, request.call_id)
        record = await self._decided(record)
        return ApprovalDecision(record.approved, record.reason, record.decided_by or "approver")

    async def _decided(self, record: ApprovalRecord) -> ApprovalRecord:
        key = ("approval", record.task_id, record.call_id)
        while record.status == "pending":
            remaining = record.deadline - time.time()
            if remaining <= 0:
                return await self._settle(record)
            with self.notifier.listening(key) as decided:  # before the read: no decision is missed
                record = await self.store.get_approval(record.task_id, record.call_id)
                if record.status == "pending":
                    await self.notifier.wait_for(decided, min(self.poll_s, remaining))
        return record

    async def _settle(self, record: ApprovalRecord) -> ApprovalRecord:
        """Decide a pending approval by the policy, unless a decision landed first (then that one counts)."""
        try:
            return await self.store.decide_approval(
                record.task_id, record.call_id, approved=self.policy == "approve", decided_by="timeout",
                reason=f"no decision before the approval deadline (policy: {self.policy})", enforce_deadline=False,
            )
        except ConflictError:
            return await self.store.get_approval(record.task_id, record.call_id)


_PAGE = 500


async def last_turn_events(store: Store, task_id: str, checkpoint: Checkpoint) -> list[StoredEvent]:
    """The stored events from the checkpoint's last `model.turn` on (none before the first turn).

    Read backwards in growing windows from the checkpoint's seq, so a resume reads about one turn's
    events, not the whole log.
    """
    if checkpoint.step == 0:
        return []
    turn_type = ModelTurn.model_fields["type"].default
    span = 64
    while True:
        after = max(0, checkpoint.seq - span)
        events = await _events_after(store, task_id, after)
        starts = [i for i, e in enumerate(events) if e.type == turn_type and e.seq <= checkpoint.seq
                  and json.loads(e.data).get("step") == checkpoint.step]
        if starts:
            return events[starts[-1]:]
        if after == 0:
            return []
        span *= 4


async def _events_after(store: Store, task_id: str, after: int) -> list[StoredEvent]:
    events: list[StoredEvent] = []
    while True:
        page = await store.list_events(task_id, after=after, limit=_PAGE)
        events.extend(page)
        if len(page) < _PAGE:
            return events
        after = page[-1].seq
