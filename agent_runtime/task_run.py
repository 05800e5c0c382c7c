"""One attempt at one task, as the worker runs it: the loop's event stream persisted, approvals
kept by the worker's `DurableApprover`, the task moved between running and waiting_approval.

Split from `agent_runtime.worker`, which owns the queue, leases and hand-backs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_runtime import tracing
from agent_runtime.agents import AgentSpec
from agent_runtime.errors import ConflictError
from agent_runtime.events import (
    STATE_OF_TERMINAL_EVENT,
    ApprovalRequested,
    ApprovalResolved,
    TaskCancelled,
    TerminalEvent,
    is_terminal,
)
from agent_runtime.limits import Limits
from agent_runtime.loop import Agent
from agent_runtime.models.base import Message, Model, ModelReply, StreamingModel, TextSink
from agent_runtime.observability import emit_task_metrics
from agent_runtime.persister import Persister
from agent_runtime.principals import session_scope
from agent_runtime.store.base import Store, TaskRecord, TaskState
from agent_runtime.store.notify import Notifier, live_key
from agent_runtime.tools.base import Tool

if TYPE_CHECKING:
    from agent_runtime.worker import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentRuntime:
    """What a worker needs to run one agent's tasks; model and tools are shared by its tasks."""

    spec: AgentSpec
    model: Model
    tools: Mapping[str, Tool]


class ListenedModel:
    """The runtime's model for one task run: a call streams only while someone in this process follows
    the task live (`Notifier.subscribed`). Streamed text is live-only and reaches only this process's
    followers, so with none it would be parsed for nobody (about half a floor step of CPU per call)."""

    def __init__(self, model: Model, notifier: Notifier, key: Hashable) -> None:
        self.inner, self._notifier, self._key = model, notifier, key
        self.name, self.offline = model.name, model.offline
        self.streams = bool(getattr(model, "streams", False))

    async def complete(self, messages: list[Message], tools: list[dict[str, Any]],
                       on_text: TextSink | None = None) -> ModelReply:
        if on_text is None or not self._notifier.listened(self._key):
            return await self.inner.complete(messages, tools)
        streaming: StreamingModel = self.inner  # type: ignore[assignment]  # `streams` says so
        return await streaming.complete(messages, tools, on_text=on_text)

    async def aclose(self) -> None:
        """Nothing of its own: the runtime's model is shared by its tasks and closed with the runtime."""


class LeaseLostError(Exception):
    """Another worker took the task over (this worker stalled past its lease)."""


class ScopedMemory:
    """Session memory per agent and principal: the same session id under two agents, or of two
    principals, are two conversations (`session_scope`)."""

    def __init__(self, store: Store, agent: str, owner: str | None = None) -> None:
        self._store = store
        self._prefix = session_scope(agent, owner)

    async def load(self, session_id: str) -> list[Message]:
        return await self._store.load(self._prefix + session_id)

    async def append(self, session_id: str, messages: list[Message]) -> None:
        await self._store.append(self._prefix + session_id, messages)



async def settle_task(store: Store, task_id: str, terminal: TerminalEvent, *, owner: str | None) -> TerminalEvent:
    """Store the terminal event, unless a cancel was accepted since the loop last looked: the API
    answered that cancel 202, so the task ends `cancelled` (same seq, usage so far) whatever its own
    end was. Returns the event stored; `ConflictError` if the task ended or the lease was lost."""
    if isinstance(terminal, TaskCancelled):
        await store.finish_task(task_id, terminal, owner=owner)
        return terminal
    try:
        await store.finish_task(task_id, terminal, owner=owner, unless_cancelled=True)
        return terminal
    except ConflictError:
        current = await store.get_task(task_id)
        if current.terminal or (owner and current.lease_owner != owner) or not current.cancel_requested:
            raise
    cancelled = TaskCancelled(task_id=task_id, seq=terminal.seq, ts=time.time(), steps=terminal.steps,
                              usage=terminal.usage, cost_usd=terminal.cost_usd, stop_reason="cancelled",
                              duration_ms=terminal.duration_ms, reason="cancelled by request")
    await store.finish_task(task_id, cancelled, owner=owner)
    return cancelled


class TaskRun:
    """One attempt at one task: the loop's stream, persisted, its approvals kept by the worker's
    `DurableApprover`; this class moves the task between running and waiting_approval."""

    def __init__(self, worker: Worker, task: TaskRecord, runtime: AgentRuntime, limits: Limits,
                 cancel: asyncio.Event) -> None:
        self.worker, self.task, self.runtime, self.limits, self.cancel = worker, task, runtime, limits, cancel
        self.waiting: set[str] = set()  # call ids of approvals this task is waiting for right now
        self.persister: Persister | None = None  # set while `drive` runs

    async def drive(self) -> None:
        """Run the task from its last checkpoint to a terminal event and settle the task with it."""
        w, task = self.worker, self.task
        store, owner = w.store, w.owner
        with tracing.span("load_checkpoint", **{"db.operation.name": "load_checkpoint"}):  # what a resume reads
            checkpoint = await store.load_checkpoint(task.task_id)
            start_seq = await store.last_seq(task.task_id)
            turn_log = await w.approvals.turn_log(task.task_id, checkpoint)
        persister = Persister(store, w.notifier, task.task_id, owner, seq=start_seq,
                              saved=len(checkpoint.messages) if checkpoint else 0)
        self.persister = persister
        model = ListenedModel(self.runtime.model, w.notifier, live_key(task.task_id))
        agent = Agent(self.runtime.spec, model, self.runtime.tools,
                      memory=ScopedMemory(store, task.agent, task.owner), approver=w.approvals, limits=self.limits)
        stream = agent.stream(
            task.input, task_id=task.task_id, session_id=task.session_id, cancel=self.cancel, resume=checkpoint,
            start_seq=start_seq, on_checkpoint=persister.checkpoint, limits=self.limits, turn_log=turn_log,
            before_tool=self._before_tool, on_delta=functools.partial(w.notifier.publish, live_key(task.task_id)),
        )
        terminal: TerminalEvent | None = None
        waiting = (set(checkpoint.pending_approvals) | set(turn_log.requested)) if checkpoint else set()
        for call_id in sorted(waiting - set(turn_log.resolved)):
            await self._wait_begins(call_id)  # resumed while waiting: the loop does not request it again
        async with contextlib.aclosing(stream):  # type: ignore[type-var]  # an async generator
            async for event in stream:
                if persister.error is not None:
                    break
                if is_terminal(event):
                    terminal = event  # type: ignore[assignment]
                    break
                # The approval record and the task state change before clients can see the event,
                # so whoever reads `approval.requested` can decide at once.
                if isinstance(event, ApprovalRequested):
                    await w.approvals.open(event)
                    await self._wait_begins(event.call_id)
                elif isinstance(event, ApprovalResolved):
                    await self._wait_ends(event.call_id)
                persister.add(event)
        await persister.drain()
        if terminal is None:
            raise RuntimeError("the task's event stream ended without a terminal event")
        await self._finish(terminal)

    def cancel_told(self, within_s: float) -> bool | None:
        """The store's cancel flag as a write of this run told it less than `within_s` ago, else None:
        the heartbeat then has no need to read the task."""
        p = self.persister
        if p is None or p.cancel_flag is None or time.monotonic() - p.told_at > within_s:
            return None
        return p.cancel_flag

    async def _before_tool(self) -> None:
        """Read the store's cancel flag before a tool call starts, so a cancel accepted by any API
        replica stops the next call, not only the one after the heartbeat's next read."""
        try:
            record = await self.worker.store.get_task(self.task.task_id)
        except Exception:  # the heartbeat still sees the cancel within a poll
            log.warning("could not read the cancel flag before a tool call", exc_info=True,
                        extra={"task_id": self.task.task_id})
            return
        if record.cancel_requested:
            self.cancel.set()

    async def _finish(self, terminal: TerminalEvent) -> None:
        w, task = self.worker, self.task
        try:
            terminal = await settle_task(w.store, task.task_id, terminal, owner=w.owner)
        except ConflictError as exc:
            raise LeaseLostError(str(exc)) from None
        w.notifier.notify(("events", task.task_id))
        log.info("task ended", extra={"task_id": task.task_id, "type": terminal.type, "steps": terminal.steps})
        if w.emit_metrics:
            emit_task_metrics(agent=task.agent, status=STATE_OF_TERMINAL_EVENT[terminal.type], steps=terminal.steps,
                              tokens=terminal.usage.total_tokens, cost_usd=terminal.cost_usd,
                              duration_ms=terminal.duration_ms)

    async def _wait_begins(self, call_id: str) -> None:
        """The task is waiting_approval while any of its calls waits for a decision."""
        self.waiting.add(call_id)
        if len(self.waiting) == 1:
            await self._set_state("waiting_approval", "running")

    async def _wait_ends(self, call_id: str) -> None:
        self.waiting.discard(call_id)
        if not self.waiting:
            await self._set_state("running", "waiting_approval")

    async def _set_state(self, state: TaskState, from_state: TaskState) -> None:
        with contextlib.suppress(ConflictError):
            await self.worker.store.set_state(self.task.task_id, state, from_states=(from_state,))
