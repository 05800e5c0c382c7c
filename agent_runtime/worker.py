"""The worker: takes tasks from the queue and runs them durably, up to N at a time.

For each task it claims a lease in the store, resumes from the last checkpoint (a
redelivered task does not repeat completed tool calls), persists every event and
checkpoint, keeps the lease and the queue message alive while the task runs, watches
for cancel requests, and moves the task to waiting_approval while a sensitive call waits
for its decision (kept by `agent_runtime.approvals.DurableApprover`; one attempt is `agent_runtime.task_run.TaskRun`). When the task ends the message is deleted;
a task whose attempts keep dying is failed with the reason and dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from agent_runtime import tracing
from agent_runtime.approvals import DurableApprover
from agent_runtime.errors import ConflictError, NotFoundError, SessionBusyError
from agent_runtime.events import TaskFailed
from agent_runtime.limits import ApprovalTimeoutPolicy
from agent_runtime.protection import ScaleInProtection
from agent_runtime.queue.base import QueueMessage, TaskQueue
from agent_runtime.redact import redact
from agent_runtime.settings import DEFAULT_MAX_ATTEMPTS
from agent_runtime.store.base import Store, TaskRecord
from agent_runtime.store.notify import Notifier
from agent_runtime.takeover import lease_owner, release_dead_leases
from agent_runtime.task_run import AgentRuntime, LeaseLostError, TaskRun, settle_task

__all__ = ["AgentRuntime", "LeaseLostError", "Worker"]

log = logging.getLogger(__name__)

# How soon a task whose session predecessor has not ended is looked at again (its message requeued).
SESSION_WAIT_POLL_S = 1.0


class Worker:
    """Runs queued tasks of the agents in `runtimes`, at most `concurrency` at once."""

    def __init__(
        self,
        *,
        store: Store,
        queue: TaskQueue,
        runtimes: Mapping[str, AgentRuntime],
        notifier: Notifier | None = None,
        concurrency: int = 64,
        lease_s: float = 60.0,
        poll_s: float = 1.0,
        receive_wait_s: float = 10.0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        approval_timeout_policy: ApprovalTimeoutPolicy = "deny",
        emit_metrics: bool = False,
        owner: str | None = None,
        protection: ScaleInProtection | None = None,
    ) -> None:
        if concurrency < 1 or max_attempts < 1 or lease_s <= 0 or poll_s <= 0:
            raise ValueError("concurrency, max_attempts, lease_s and poll_s must be positive")
        self.store = store
        self.queue = queue
        self.runtimes = dict(runtimes)
        self.notifier = notifier or Notifier()
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.receive_wait_s = receive_wait_s
        self.max_attempts = max_attempts
        self.approval_timeout_policy = approval_timeout_policy
        self.approvals = DurableApprover(store, self.notifier, policy=approval_timeout_policy, poll_s=poll_s)
        self.emit_metrics = emit_metrics
        self.owner = owner or lease_owner()  # names this host and process (`agent_runtime.takeover`)
        self.protection = protection or ScaleInProtection(None)  # told on every start and end of a task
        self._running: dict[asyncio.Task[None], QueueMessage] = {}
        self._held: set[str] = set()  # ids of the tasks this worker's handlers are claiming or running
        self._slot_free = asyncio.Event()
        self._stopping = False
        self._runner: asyncio.Task[Any] | None = None

    # -- the receive loop ---------------------------------------------------------

    async def recover(self) -> int:
        """Re-enqueue unfinished tasks of our agents (after a restart of an in-process queue); those leased
        to a server process of this host that is gone are taken over at once, not when their lease lapses."""
        tasks = await self.store.active_tasks(list(self.runtimes))
        await release_dead_leases(self.store, tasks)
        for task in tasks:
            await self.queue.send(task.task_id, task.agent)
        if tasks:
            log.info("re-enqueued unfinished tasks", extra={"count": len(tasks)})
        return len(tasks)

    async def run(self) -> None:
        """Receive and run tasks until `stop()`."""
        self._stopping = False
        self._runner = asyncio.current_task()
        while not self._stopping:
            free = self.concurrency - len(self._running)
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            try:
                messages = await self.queue.receive(min(free, 10), self.receive_wait_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("receiving from the queue failed; retrying")
                await asyncio.sleep(min(5.0, self.poll_s * 5))
                continue
            for msg in messages:
                if self._stopping:  # received while stopping: give it straight back, no receive spent
                    await self.queue.requeue(msg)
                    continue
                handler = asyncio.create_task(self.handle(msg), name=f"task-{msg.task_id}")
                self._running[handler] = msg
                handler.add_done_callback(self._done)
                self.protection.busy(True)

    def _done(self, handler: asyncio.Task[None]) -> None:
        self._running.pop(handler, None)
        self._slot_free.set()
        self.protection.busy(bool(self._running))
        if not handler.cancelled() and handler.exception() is not None:
            log.error("task handler crashed", exc_info=handler.exception())

    @property
    def running(self) -> int:
        return len(self._running)

    async def stop(self, grace_s: float = 0.0) -> None:
        """Stop receiving; hand running tasks back to the queue (resumed from their checkpoint elsewhere)."""
        self._stopping = True
        self._slot_free.set()
        runner, self._runner = self._runner, None
        if runner is not None and runner is not asyncio.current_task() and not runner.done():
            runner.cancel()  # stop receiving first, so no handed-back task is taken again here
            await asyncio.gather(runner, return_exceptions=True)
        handlers = list(self._running)
        if grace_s > 0 and handlers:
            await asyncio.wait(handlers, timeout=grace_s)
        for h in handlers:
            h.cancel()
        if handlers:
            await asyncio.gather(*handlers, return_exceptions=True)
        await self.protection.close()  # the container is going away; ECS ignores protection then

    def notify_cancel(self, task_id: str) -> None:
        self.notifier.notify(("cancel", task_id))

    # -- one task ---------------------------------------------------------------------

    async def handle(self, msg: QueueMessage) -> None:
        """One delivery: claim the task, run it to its end (or hand it back), settle the message.

        A second delivery of a task this worker is running (SQS delivers at least once) is put back to
        be looked at when the lease would lapse (no receive spent): the lease would not stop it, since
        a worker may claim a task it holds itself."""
        if msg.task_id in self._held:
            log.info("duplicate delivery of a task this worker runs; put back", extra={"task_id": msg.task_id})
            await self.queue.requeue(msg, self.lease_s)
            return
        self._held.add(msg.task_id)
        try:
            await self._handle(msg)
        finally:
            self._held.discard(msg.task_id)

    async def _handle(self, msg: QueueMessage) -> None:
        extra = {"task_id": msg.task_id, "agent": msg.agent, "receive_count": msg.receive_count}
        try:
            claimed = await self._claim(msg)
        except Exception:
            log.exception("could not claim the task; it will be retried", extra=extra)
            with contextlib.suppress(Exception):
                await self.queue.release(msg, 5.0)
            return
        if claimed is None:
            return
        task, runtime = claimed
        log.info("task claimed", extra={**extra, "attempt": task.attempts})
        try:
            await self._execute(task, runtime, msg)
        except asyncio.CancelledError:  # worker shutting down: give the task back at once
            with contextlib.suppress(Exception):
                await asyncio.shield(self._hand_back(task, msg))
            raise
        except LeaseLostError:
            log.warning("lease lost; another worker continues the task", extra=extra)
        except Exception:
            log.exception("task interrupted by an internal error; it will be retried", extra=extra)
            with contextlib.suppress(Exception):
                await self.store.release_lease(task.task_id, owner=self.owner)
                await self.queue.release(msg, 5.0)

    async def _claim(self, msg: QueueMessage) -> tuple[TaskRecord, AgentRuntime] | None:
        """The task leased to this worker, or None when the delivery was settled otherwise."""
        try:
            task = await self.store.get_task(msg.task_id)
        except NotFoundError:
            log.warning("message for an unknown task deleted", extra={"task_id": msg.task_id})
            await self.queue.delete(msg)
            return None
        if task.terminal:
            await self.queue.delete(msg)
            return None
        if task.attempts >= self.max_attempts:
            await self._give_up(task, msg)
            return None
        runtime = self.runtimes.get(task.agent)
        if runtime is None:
            await self._fail(task, f"agent {task.agent!r} is not served by this worker")
            await self.queue.delete(msg)
            return None
        try:
            task = await self.store.claim_task(task.task_id, owner=self.owner, lease_s=self.lease_s)
        except SessionBusyError:  # its session's earlier task runs first: look again shortly (no receive spent)
            await self.queue.requeue(msg, SESSION_WAIT_POLL_S)
            return None
        except ConflictError:
            task = await self.store.get_task(task.task_id)
            if task.terminal:
                await self.queue.delete(msg)
            else:  # another live worker has it; look again when its lease would lapse (no receive spent)
                await self.queue.requeue(msg, max(1.0, task.lease_until - time.time()))
            return None
        return task, runtime

    async def _hand_back(self, task: TaskRecord, msg: QueueMessage) -> None:
        """Give the task back unfailed: its attempt is refunded in the store, and it goes back to the
        queue as a fresh message, since SQS would count a released one toward dead-lettering."""
        await self.store.release_lease(task.task_id, owner=self.owner, refund_attempt=True)
        await self.queue.requeue(msg)

    async def _execute(self, task: TaskRecord, runtime: AgentRuntime, msg: QueueMessage) -> None:
        cancel = asyncio.Event()
        if task.cancel_requested:
            cancel.set()
        try:
            limits = runtime.spec.limits.merged(task.limits)
        except ValueError as exc:
            await self._fail(task, f"invalid limits: {exc}", owner=self.owner)
            await self.queue.delete(msg)
            return
        run = TaskRun(self, task, runtime, limits, cancel)
        with tracing.continued(task.trace_context):  # the run's spans join the trace of the submit request
            driver = asyncio.create_task(run.drive())
        keeper = asyncio.create_task(self._keep_alive(run, msg, cancel))
        try:
            await asyncio.wait({driver, keeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (driver, keeper):
                if not t.done():
                    t.cancel()
            await asyncio.gather(driver, keeper, return_exceptions=True)
        if not driver.cancelled() and driver.exception() is None:
            await self.queue.delete(msg)
            return
        if keeper.done() and not keeper.cancelled() and keeper.exception() is not None:
            raise keeper.exception()  # type: ignore[misc]
        driver.result()  # re-raise the driver's error

    async def _keep_alive(self, run: TaskRun, msg: QueueMessage, cancel: asyncio.Event) -> None:
        """Renew the lease and the message's visibility; turn stored cancel requests into `cancel`.

        The cancel flag is known within `poll_s`: from the renewal, from a write of the run made within
        `poll_s` (its conditional update returns the flag), or else from a read of the task."""
        task_id = run.task.task_id
        renew_every = self.lease_s / 3
        extend_every = min(renew_every, self.queue.visibility_s / 3)
        next_renew = time.monotonic() + renew_every
        next_extend = time.monotonic() + extend_every
        while True:
            if await self.notifier.wait(("cancel", task_id), self.poll_s):
                cancel.set()
            try:
                if time.monotonic() >= next_renew:
                    record = await self.store.renew_lease(task_id, owner=self.owner, lease_s=self.lease_s)
                    next_renew = time.monotonic() + renew_every
                    told: bool | None = record.cancel_requested
                else:
                    told = run.cancel_told(self.poll_s)
                    if told is None:
                        told = (await self.store.get_task(task_id)).cancel_requested
                if told:
                    cancel.set()
                if time.monotonic() >= next_extend:
                    await self.queue.extend(msg)
                    next_extend = time.monotonic() + extend_every
            except ConflictError as exc:
                raise LeaseLostError(str(exc)) from None
            except Exception:
                log.warning("heartbeat failed; retrying", exc_info=True, extra={"task_id": task_id})

    async def _fail(self, task: TaskRecord, reason: str, *, owner: str | None = None) -> None:
        reason = redact(reason)  # the reason may quote an exception's text
        seq = await self.store.last_seq(task.task_id) + 1
        event = TaskFailed(task_id=task.task_id, seq=seq, ts=time.time(), steps=task.steps, usage=task.usage,
                           cost_usd=task.cost_usd, stop_reason="error", error=reason)
        try:  # a cancel accepted meanwhile ends it cancelled instead
            await settle_task(self.store, task.task_id, event, owner=owner)
        except ConflictError:
            return
        self.notifier.notify(("events", task.task_id))
        log.warning("task failed", extra={"task_id": task.task_id, "reason": reason})

    async def _give_up(self, task: TaskRecord, msg: QueueMessage) -> None:
        reason = (f"gave up after {task.attempts} attempts: each attempt ended without finishing the task "
                  f"(its worker stopped or crashed)")
        await self._fail(task, reason)
        await self.queue.dead_letter(msg, reason)
