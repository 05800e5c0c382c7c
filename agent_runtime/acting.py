"""How the loop acts on a turn: its tool calls run concurrently, a sensitive one waits for its approval,
and a cancel leaves no new side effect behind.

`ToolActing` is the acting half of the loop's run (`agent_runtime.loop._Run` derives from it). Its
promises, which `docs/runtime.md` (Durability) repeats:

- **Cancel.** No call starts once a cancel is known: the local cancel event, and before each call (and
  again after a sensitive call's approval) the store's cancel flag, as told by the checkpoint write
  that precedes the call or else read through the `before_tool` hook. Calls in flight are abandoned (a tool adapter may wait for a write already under way to end);
  approvals still pending are withdrawn (rejected, `decided_by: cancel`); every call the log shows
  started and not finished gets a `tool.finished` with `outcome: cancelled`.
- **Resume.** A call the previous attempt left without a result runs again under one `tool.started`
  with `retry: true`, emitted when the tool is invoked again; a call whose approval the log already
  announced is not announced again, and one it already shows decided is not decided again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from agent_runtime.checkpoint import (
    ApprovalDecision,
    ApprovalRequest,
    Approver,
    Checkpoint,
    DeadlineApprover,
    TurnLog,
)
from agent_runtime.events import ApprovalRequested, ApprovalResolved, ToolCallFinished, ToolCallStarted
from agent_runtime.limits import Limits
from agent_runtime.models.base import ToolCall
from agent_runtime.tool_calls import Observation, failure, invoke, parse_arguments
from agent_runtime.tools.base import Tool
from agent_runtime.tracing import NoopTrace
from lambda_tools.schema import describe_validation_error

if TYPE_CHECKING:
    from agent_runtime.tracing.spans import TaskTrace  # imports OpenTelemetry: only while tracing is on

# Events carry at most this much of a tool result (the model sees more: `tool_calls.MAX_OBSERVATION_CHARS`).
MAX_EVENT_RESULT_CHARS = 2_000
# The reason a cancel gives the calls and approvals it stops.
CANCELLED = "cancelled"

BeforeTool = Callable[[], Awaitable[None]]

log = logging.getLogger(__name__)


class ToolActing:
    """The acting half of a run: what `_Run` provides it is declared here."""

    tools: dict[str, Tool]
    approver: Approver
    cp: Checkpoint
    limits: Limits
    task_id: str
    cancel_event: asyncio.Event | None
    cancel_requested: bool
    cancel_checked: bool
    turn_log: TurnLog
    before_tool: BeforeTool | None
    # Calls the log shows started and not finished: call id -> (tool, when this attempt took them on).
    open_calls: dict[str, tuple[str, float]]
    trace: NoopTrace | TaskTrace  # the run's spans (`agent_runtime.tracing`)

    def _event(self, cls: type[Any], **fields: Any) -> None:
        raise NotImplementedError

    async def _checkpoint(self) -> None:
        raise NotImplementedError

    async def _act(self, calls: list[ToolCall], *, resumed: bool = False) -> None:
        """Run the turn's tool calls concurrently; each result becomes a tool message.

        A new turn's calls are announced (`tool.started`) before the checkpoint that stores the turn, so
        they are durable before any call starts without a write of their own; a resumed turn's calls
        announce themselves when they run again (`retry: true`, in `_observe`)."""
        t0 = time.monotonic()
        self.open_calls.update({c.id: (c.name, t0) for c in calls})
        parsed = [parse_arguments(c) for c in calls]
        if not resumed:
            for call, args_obj in zip(calls, parsed, strict=True):
                self._event(ToolCallStarted, step=self.cp.step, call_id=call.id, tool=call.name, arguments=args_obj)
            await self._checkpoint()
        if len(calls) == 1:
            await self._call(calls[0], parsed[0], t0, resumed=resumed)
            return
        tasks = [asyncio.create_task(self._call(c, a, t0, resumed=resumed)) for c, a in zip(calls, parsed, strict=True)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                if not t.done():
                    t.cancel()
            if any(not t.done() for t in tasks):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _gate(self, *, reread: bool = False) -> None:
        """Raise `CancelledError` when a cancel is known: no call starts after it. `before_tool` (a read
        of the store) is skipped when the checkpoint just written told the store's cancel flag, unless
        `reread`: after a wait (an approval's) the flag that write told may be stale."""
        if self.before_tool is not None and (reread or not self.cancel_checked):
            await self.before_tool()
        if self.cancel_event is not None and self.cancel_event.is_set():
            self.cancel_requested = True
            raise asyncio.CancelledError

    async def _call(self, call: ToolCall, args_obj: dict[str, Any] | str, t0: float, *, resumed: bool = False) -> None:
        step = self.cp.step
        await self._gate()
        with self.trace.tool(call) as span:
            ok, observation, error, error_type = await self._observe(call, args_obj, resumed=resumed)
            span.result(ok, error, error_type, observation)
        self.cp.messages.append({"role": "tool", "tool_call_id": call.id, "content": observation})
        self.open_calls.pop(call.id, None)
        self._event(
            ToolCallFinished, step=step, call_id=call.id, tool=call.name, ok=ok, outcome="ok" if ok else "error",
            duration_ms=(time.monotonic() - t0) * 1000, result=observation[:MAX_EVENT_RESULT_CHARS], error=error,
        )
        await self._checkpoint()

    async def _observe(self, call: ToolCall, args_obj: dict[str, Any] | str, *, resumed: bool) -> Observation:
        """Validate, approve and run one call. Every failure becomes text the model can act on."""
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(self.tools) or "none"
            return failure(f"unknown tool {call.name!r}; available tools: {known}", "unknown_tool")
        if not isinstance(args_obj, dict):
            return failure(
                f"arguments for {call.name} must be a JSON object matching its schema; got {call.arguments[:200]!r}",
                "invalid_arguments",
            )
        try:
            args = tool.spec.input_model.model_validate(args_obj)
        except ValidationError as exc:
            return failure(f"invalid arguments for {call.name}: {describe_validation_error(exc)}", "invalid_arguments")
        if tool.spec.sensitive:
            decision = await self._approval(call, args)
            if not decision.approved:
                why = decision.reason or "no reason given"
                return failure(f"the call to {call.name} was rejected ({decision.decided_by}): {why}", "rejected")
            await self._gate(reread=True)  # the wait may have been long: a cancel accepted meanwhile stops the call
        if resumed:  # the tool runs again: one tool.started, marked as a retry
            self._event(ToolCallStarted, step=self.cp.step, call_id=call.id, tool=call.name, arguments=args_obj,
                        retry=True)
        timeout = self.limits.tool_timeout_s or tool.spec.timeout_s
        return await invoke(tool, args, call, limit_s=timeout, task_id=self.task_id)

    async def _approval(self, call: ToolCall, args: BaseModel) -> ApprovalDecision:
        cp = self.cp
        recorded = self.turn_log.resolved.pop(call.id, None)
        if recorded is not None:  # a resumed task whose log holds the decision: not decided again
            cp.pending_approvals.pop(call.id, None)
            return recorded
        deadline = cp.pending_approvals.get(call.id)
        arguments = args.model_dump(mode="json")
        if deadline is None:
            deadline = time.time() + self.limits.approval_timeout_s
            cp.pending_approvals[call.id] = deadline
            self._event(ApprovalRequested, step=cp.step, call_id=call.id, tool=call.name, arguments=arguments,
                        deadline=deadline)
            await self._checkpoint()
        # else a resumed task: the log already holds this call's approval.requested (not announced twice)
        request = ApprovalRequest(self.task_id, call.id, call.name, arguments, deadline, cp.step)
        with self.trace.approval(call) as span:
            decision = await self.approver(request)  # decided by the deadline (see `Agent.approver`)
            span.decision(decision)
        cp.pending_approvals.pop(call.id, None)
        self._event(ApprovalResolved, step=cp.step, call_id=call.id, tool=call.name, approved=decision.approved,
                    reason=decision.reason, decided_by=decision.decided_by)
        return decision

    async def _abandon_open_calls(self) -> None:
        """After a cancel: withdraw the approvals still pending and record every open call as cancelled."""
        for call_id, (tool, t0) in list(self.open_calls.items()):
            if self.cp.pending_approvals.pop(call_id, None) is not None:
                decision = await self._withdraw(call_id)
                self._event(ApprovalResolved, step=self.cp.step, call_id=call_id, tool=tool,
                            approved=decision.approved, reason=decision.reason, decided_by=decision.decided_by)
            self._event(ToolCallFinished, step=self.cp.step, call_id=call_id, tool=tool, ok=False, outcome="cancelled",
                        duration_ms=(time.monotonic() - t0) * 1000, error=f"{CANCELLED}: the task was cancelled")
        self.open_calls.clear()

    async def _withdraw(self, call_id: str) -> ApprovalDecision:
        """Reject a pending approval for the cancel (recorded by a durable approver, when there is one)."""
        cancelled = ApprovalDecision(False, CANCELLED, "cancel")
        if not isinstance(self.approver, DeadlineApprover):
            return cancelled
        try:
            return await self.approver.withdraw(self.task_id, call_id, CANCELLED)
        except Exception:  # the task ends cancelled all the same; its approval can no longer be decided
            log.warning("could not record the withdrawn approval", exc_info=True,
                        extra={"task_id": self.task_id, "call_id": call_id})
            return cancelled
