"""The ReAct loop every agent runs: think (model call) -> act (tool calls, in
parallel) -> observe (results appended) -> repeat, until a final answer or a guard
stops the task.

Everything that happens is an event (`agent_runtime.events`). `Agent.stream()`
yields them as they happen; `Agent.run()` collects them into a `TaskResult`. The
same loop serves the CLI, the local server and the ECS workers; durability comes
from `on_checkpoint` (called whenever the conversation grows) and `resume`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypedDict, Unpack

from agent_runtime import tracing
from agent_runtime.acting import BeforeTool, ToolActing
from agent_runtime.agents import AgentSpec
from agent_runtime.approvals import deny_all, until_deadline
from agent_runtime.checkpoint import (
    ApprovalDecision,
    Approver,
    Checkpoint,
    CheckpointSink,
    DeadlineApprover,
    TurnLog,
)
from agent_runtime.errors import ModelError
from agent_runtime.events import (
    Event,
    ModelDelta,
    ModelTurn,
    StopReason,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskStarted,
)
from agent_runtime.limits import Limits
from agent_runtime.memory import ContextWindow, Memory
from agent_runtime.models.base import Model, StreamingModel
from agent_runtime.redact import redact
from agent_runtime.result import TaskResult, result_from
from agent_runtime.tool_calls import unanswered_calls
from agent_runtime.tools.base import Tool

# `from agent_runtime.loop import Agent, ApprovalDecision, TaskResult` is the documented way in.
__all__ = ["Agent", "ApprovalDecision", "TaskResult"]
# `task.started` carries the input's head; the task record holds the whole input, stored once.
MAX_EVENT_INPUT_CHARS = 2_000
DeltaSink = Callable[[ModelDelta], None]  # where the live-only `model.delta` events go


def _head(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... [truncated, {len(text)} characters in all]"


class _Stop(Exception):
    """Raised inside a run to end it with a guard's stop reason."""

    def __init__(self, reason: StopReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_DONE = object()


class RunOptions(TypedDict, total=False):
    """How `Agent.run()` and `Agent.stream()` run a task, besides its input and cancel event.

    With `resume`, `turn_log` says which approvals of the last turn the event log already holds.
    `before_tool` is awaited before each tool call starts (a worker reads the store's cancel flag
    there and sets `cancel`), so no call starts after a cancel it could know of.
    With `on_delta` and a model that streams, each piece of the model's text is given to it as a
    `ModelDelta` while the call runs: live only, never one of the task's events (the `model.turn` is).
    """

    task_id: str | None
    session_id: str | None
    resume: Checkpoint | None
    start_seq: int
    on_checkpoint: CheckpointSink | None
    limits: Limits | None
    turn_log: TurnLog | None
    before_tool: BeforeTool | None
    on_delta: DeltaSink | None


class Agent:
    """An agent: its spec, a model, its tools, and optional memory and approver."""

    def __init__(
        self,
        spec: AgentSpec,
        model: Model,
        tools: Mapping[str, Tool],
        *,
        memory: Memory | None = None,
        approver: Approver | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.spec = spec
        self.model = model
        self.tools = dict(tools)
        self.memory = memory
        # The request's deadline goes around the approver, unless it settles requests by their deadline itself.
        self.approver = approver if isinstance(approver, DeadlineApprover) else until_deadline(approver or deny_all)
        self.limits = limits or spec.limits
        # Built once per agent: the tool list the model sees.
        self.tool_schemas = [t.spec.openai_tool() for t in self.tools.values()]
        # Whether the model can stream its text (`StreamingModel`): then `on_delta` gets it live.
        self.streams = bool(getattr(model, "streams", False))

    async def run(self, task: str, *, cancel: asyncio.Event | None = None,
                  **options: Unpack[RunOptions]) -> TaskResult:
        """Run a task to its end and return the result with all its events (those `stream()` would yield,
        collected as they are emitted, without a queue between the run and its reader)."""
        events: list[Event] = []
        body = asyncio.create_task(self._run_of(task, options).execute(events.append, cancel))
        try:
            await body
        finally:
            if not body.done():
                body.cancel()
            await asyncio.gather(body, return_exceptions=True)
        return result_from(events, self.spec.name)

    async def stream(self, task: str, *, cancel: asyncio.Event | None = None,
                     **options: Unpack[RunOptions]) -> AsyncIterator[Event]:
        """Run a task, yielding its events as they happen; the last one is terminal. `cancel` being set
        cancels it, in-flight tools included; `options` are described at `RunOptions`."""
        run = self._run_of(task, options)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        body = asyncio.create_task(run.execute(queue.put_nowait, cancel))
        body.add_done_callback(lambda _: queue.put_nowait(_DONE))
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                yield item
        finally:
            if not body.done():
                body.cancel()
            await asyncio.gather(body, return_exceptions=True)

    def _run_of(self, task: str, options: RunOptions) -> _Run:
        run = _Run(
            self,
            task,
            task_id=options.get("task_id") or uuid.uuid4().hex,
            session_id=options.get("session_id"),
            resume=options.get("resume"),
            start_seq=options.get("start_seq", 0),
            on_checkpoint=options.get("on_checkpoint"),
            limits=options.get("limits") or self.limits,
            turn_log=options.get("turn_log") or TurnLog(),
            before_tool=options.get("before_tool"),
        )
        run.on_delta = options.get("on_delta") if self.streams else None
        return run


class _Run(ToolActing):
    """The state of one task run. `execute` is the loop, top to bottom; acting is `ToolActing`'s."""

    def __init__(
        self,
        agent: Agent,
        task: str,
        *,
        task_id: str,
        session_id: str | None,
        resume: Checkpoint | None,
        start_seq: int,
        on_checkpoint: CheckpointSink | None,
        limits: Limits,
        turn_log: TurnLog,
        before_tool: BeforeTool | None,
    ) -> None:
        self.agent = agent
        self.tools, self.approver = agent.tools, agent.approver
        self.task = task
        self.task_id = task_id
        self.session_id = session_id
        self.resume = resume
        self.limits = limits
        self.on_checkpoint = on_checkpoint
        self.cp = resume or Checkpoint()
        self.seq = max(start_seq, self.cp.seq)
        self.turn_log, self.before_tool = turn_log, before_tool
        self.open_calls: dict[str, tuple[str, float]] = {}
        for call_id in turn_log.resolved:
            self.cp.pending_approvals.pop(call_id, None)
        for call_id, deadline in turn_log.requested.items():
            if call_id not in turn_log.resolved:
                self.cp.pending_approvals.setdefault(call_id, deadline)
        self.cancel_requested = False
        self.cancel_event: asyncio.Event | None = None
        self.cancel_checked = False  # the last checkpoint's write told the store's cancel flag
        self.emit: Callable[[Any], None] = lambda _: None
        self.started = time.monotonic()
        self.last_thought = ""
        self.on_delta: DeltaSink | None = None
        self.trace = tracing.task_trace()  # spans of the run; a no-op unless tracing is configured

    # -- events -------------------------------------------------------------

    def _next(self) -> tuple[str, int, float]:
        self.seq += 1
        return self.task_id, self.seq, time.time()

    def _event(self, cls: type[Any], **fields: Any) -> None:
        task_id, seq, ts = self._next()
        self.emit(cls(task_id=task_id, seq=seq, ts=ts, **fields))

    async def _checkpoint(self) -> None:
        if self.on_checkpoint is not None:
            self.cp.seq = self.seq
            with self.trace.store("save_checkpoint"):
                flag = await self.on_checkpoint(self.cp)
            # The write's cancel flag is the cancel check of the calls that start right after it.
            if flag and self.cancel_event is not None:
                self.cancel_event.set()
            self.cancel_checked = flag is not None and (not flag or self.cancel_event is not None)

    def _terminal_fields(self) -> dict[str, Any]:
        return {
            "steps": self.cp.step,
            "usage": self.cp.usage,
            "cost_usd": self.cp.cost_usd,
            "duration_ms": (time.monotonic() - self.started) * 1000,
        }

    # -- the loop -----------------------------------------------------------

    async def execute(self, emit: Callable[[Any], None], cancel: asyncio.Event | None) -> None:
        """Run the task to a terminal event; `cancel` being set cancels it, in-flight tools included."""
        self.emit = self.trace.watch(emit)
        watcher: asyncio.Future[Any] | None = None
        try:
            self.trace.start(self)
            if cancel is not None:
                self.cancel_event = cancel
                watcher = self._watch(cancel)
            try:
                async with asyncio.timeout(self.limits.max_seconds):
                    answer = await self._loop()
                self._event(TaskFinished, answer=answer, stop_reason="final_answer", **self._terminal_fields())
            except TimeoutError:
                raise _Stop(
                    "timeout", f"the task ran past its wall-clock limit of {self.limits.max_seconds:g} s"
                ) from None
        except _Stop as stop:
            self._event(
                TaskFailed, error=str(stop), stop_reason=stop.reason, answer=self.last_thought or None,
                **self._terminal_fields(),
            )
        except asyncio.CancelledError:
            if not self.cancel_requested:
                raise  # the consumer went away; nothing to report to
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            await self._abandon_open_calls()
            self._event(TaskCancelled, reason="cancelled by request", stop_reason="cancelled", **self._terminal_fields())
        except ModelError as exc:  # error text is redacted: an endpoint may echo its key
            self._event(TaskFailed, error=redact(f"model error: {exc}"), stop_reason="error",
                        **self._terminal_fields())
        except Exception as exc:  # the stream must always end with a terminal event
            self._event(
                TaskFailed, error=redact(f"internal error: {type(exc).__name__}: {exc}"), stop_reason="error",
                **self._terminal_fields(),
            )
        finally:
            if watcher is not None:
                watcher.cancel()
            self.trace.close()

    def _watch(self, cancel: asyncio.Event) -> asyncio.Future[Any]:
        body = asyncio.current_task()
        assert body is not None

        def _on_cancel(fut: asyncio.Future[Any]) -> None:
            if not fut.cancelled() and not body.done():
                self.cancel_requested = True
                body.cancel()

        watcher = asyncio.ensure_future(cancel.wait())
        watcher.add_done_callback(_on_cancel)
        return watcher

    async def _loop(self) -> str:
        agent, limits, cp = self.agent, self.limits, self.cp
        resumed = self.resume is not None
        self._event(
            TaskStarted, agent=agent.spec.name, input=_head(self.task, MAX_EVENT_INPUT_CHARS),
            session_id=self.session_id, model=agent.model.name, offline=agent.model.offline, resumed=resumed,
        )
        if not resumed:
            history = await agent.memory.load(self.session_id) if agent.memory and self.session_id else []
            cp.messages = [{"role": "system", "content": agent.spec.instructions}, *history,
                           {"role": "user", "content": self.task}]
            cp.pinned = len(cp.messages) - 1
            await self._checkpoint()
        window = ContextWindow(cp.messages, budget=limits.memory_tokens, pinned=cp.pinned)

        # A resumed task first finishes the tool calls its last turn asked for.
        pending = unanswered_calls(cp.messages)
        if pending:
            await self._act(pending, resumed=True)

        while True:
            if self.cancel_event is not None and self.cancel_event.is_set():
                self.cancel_requested = True  # set while nothing awaited long enough to notice
                raise asyncio.CancelledError
            if cp.step >= limits.max_steps:
                raise _Stop("max_steps", f"stopped after {cp.step} steps (max_steps={limits.max_steps})")
            cp.step += 1
            self.cancel_checked = False  # the model call takes a while: the flag is checked again after it
            t0 = time.monotonic()
            messages = window.view()
            with self.trace.chat(agent.model, cp.step, messages) as span:
                if self.on_delta is None:
                    reply = await agent.model.complete(messages, agent.tool_schemas)
                else:
                    model: StreamingModel = agent.model  # type: ignore[assignment]  # Agent.streams says so
                    reply = await model.complete(messages, agent.tool_schemas, on_text=self._text_sink(cp.step))
                span.reply(reply)
            cp.usage = cp.usage + reply.usage
            cp.cost_usd += reply.cost_usd
            self.last_thought = reply.text or self.last_thought
            self._event(
                ModelTurn, step=cp.step, thought=reply.text or "",
                tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments} for c in reply.tool_calls],
                usage=reply.usage, cost_usd=reply.cost_usd, duration_ms=(time.monotonic() - t0) * 1000,
            )
            cp.messages.append(reply.assistant_message())
            if reply.format_error is not None:
                cp.messages.append({"role": "user", "content": f"Format error: {reply.format_error}"})
                await self._checkpoint()
                self._check_budget()
                continue
            if reply.is_final:
                await self._checkpoint()
                await self._remember()
                return reply.text or ""
            try:
                self._check_budget()
                if cp.step >= limits.max_steps:
                    raise _Stop("max_steps", f"stopped after {cp.step} steps (max_steps={limits.max_steps})")
            except _Stop:
                await self._checkpoint()  # the turn is stored before the task ends on it
                raise
            await self._act(reply.tool_calls)  # checkpoints the turn with its calls' tool.started events

    def _text_sink(self, step: int) -> Callable[[str], None]:
        """Where the model's text of `step` goes as it streams: `on_delta`, as live-only events."""
        on_delta, task_id = self.on_delta, self.task_id
        assert on_delta is not None

        def sink(text: str) -> None:
            # Built unvalidated: its fields are the loop's own (a delta costs microseconds, a step has hundreds).
            on_delta(ModelDelta.model_construct(task_id=task_id, ts=time.time(), step=step, text=text))

        return sink

    def _check_budget(self) -> None:
        cp, limits = self.cp, self.limits
        if cp.usage.total_tokens > limits.max_tokens:
            raise _Stop("max_tokens", f"used {cp.usage.total_tokens} tokens (max_tokens={limits.max_tokens})")
        if cp.cost_usd > limits.max_cost_usd:
            raise _Stop("max_cost", f"spent ${cp.cost_usd:.4f} (max_cost_usd={limits.max_cost_usd:g})")

    async def _remember(self) -> None:
        memory = self.agent.memory
        if memory is not None and self.session_id:
            await memory.append(self.session_id, self.cp.messages[self.cp.pinned :])
