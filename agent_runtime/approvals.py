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

from agent_runtime.checkpoint import ApprovalDecision, ApprovalRequest, Approver, Checkpoint, DeadlineApprover
from agent_runtime.errors import ConflictError
from agent_runtime.events import ApprovalRequested
from agent_runtime.limits import ApprovalTimeoutPolicy
from agent_runtime.store.base import ApprovalRecord, Store
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

    async def pending_on_resume(self, task_id: str, checkpoint: Checkpoint | None) -> list[str]:
        """Call ids a resumed task waits on: the checkpoint's pending approvals, completed from the log.

        A crash between storing an `approval.requested` event and the checkpoint recording it leaves the
        call announced but not pending; it is added with its announced deadline, so the resumed loop (which
        re-runs the same call ids from the checkpoint) waits for it without announcing it a second time.
        """
        if checkpoint is None:
            return []
        for event in await self.store.list_events(task_id, after=checkpoint.seq):
            if event.type == ApprovalRequested.model_fields["type"].default:
                data = json.loads(event.data)
                checkpoint.pending_approvals.setdefault(data["call_id"], float(data["deadline"]))
        return list(checkpoint.pending_approvals)

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
