"""`LocalTool`: a catalog tool called in-process, its pure function run on the tool's own threads.

An abandoned call (timed out, or its task cancelled) must neither write after it was given up nor
hold threads other tools need:

- **Writes.** The reports backend a call gets is guarded by the call's `CallGuard`: once the call is
  abandoned no write starts, and the abandonment waits for a write already under way to end, so when
  the loop records the call as cancelled nothing more is written. Chosen over running writing tools in
  a subprocess that is killed: the catalog functions are the same pure functions Lambda runs, their
  only side effects go through the backends, and a kill could land mid-write (a half-written file, an
  S3 put without its notification) where the guard has one clear point of no return.
- **Work.** `ToolContext.cancel` is set on abandonment; a long tool checks it and stops. A call still
  queued for a thread never starts.
- **Threads.** Each tool has its own bounded executor, so calls of one tool that hang past their
  timeout occupy that tool's threads only (counted in `occupied`, `abandoned`, and logged), never the
  event loop's default executor that every other tool and library shares.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ValidationError

from agent_runtime.errors import ToolError, ToolInputError
from lambda_tools.backends import Published
from lambda_tools.common import ToolFailure
from lambda_tools.schema import describe_validation_error
from lambda_tools.spec import ToolContext, ToolSpec

log = logging.getLogger(__name__)

# Threads per tool unless the caller says (build_tools passes the worker's concurrency); started on demand.
DEFAULT_MAX_THREADS = 16
# How long an abandonment waits for a write already under way (the S3 client's own timeouts are shorter).
WRITE_SETTLE_S = 60.0


class CallAbandoned(ToolFailure):
    """A write asked for after its call was abandoned; nothing was written."""

    def __init__(self) -> None:
        super().__init__("the call was abandoned (timed out or cancelled); nothing was written")


def validated(spec: ToolSpec, args: BaseModel | dict[str, Any]) -> BaseModel:
    """`args` as an instance of the tool's input model (re-validated if it is anything else)."""
    if isinstance(args, spec.input_model):
        return args
    raw = args.model_dump() if isinstance(args, BaseModel) else args
    try:
        return spec.input_model.model_validate(raw)
    except ValidationError as exc:
        raise ToolInputError(f"invalid arguments for {spec.name}: {describe_validation_error(exc)}") from None


class CallGuard:
    """One call's point of no return: a write starts only if the call was not abandoned, and an
    abandonment waits for a write under way. `cancel` is the event the tool sees as `ctx.cancel`.
    Made on the event loop that awaits the call."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()  # held for flag updates only, never across a write
        self._writing = 0
        self._settled: asyncio.Future[None] | None = None  # awaited by `settle` while a write is under way

    @contextmanager
    def side_effect(self) -> Iterator[None]:
        """Around one write: `CallAbandoned` instead of it once the call is abandoned."""
        with self._lock:
            if self.cancel.is_set():
                raise CallAbandoned
            self._writing += 1
        try:
            yield
        finally:
            with self._lock:
                self._writing -= 1
                if not self._writing and self._settled is not None:
                    self._loop.call_soon_threadsafe(_resolve, self._settled)

    def refuse(self) -> None:
        """Abandon the call: no write starts from now on, and `ctx.cancel` tells the tool to stop."""
        with self._lock:
            self.cancel.set()

    async def settle(self, settle_s: float = WRITE_SETTLE_S) -> bool:
        """Wait (up to `settle_s`) for a write under way when the call was abandoned; False if it did not end."""
        with self._lock:
            if not self._writing:
                return True
            self._settled = self._loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._settled), settle_s)
        except TimeoutError:
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class GuardedReports:
    """The reports backend of one call: `publish` goes through the call's guard."""

    def __init__(self, inner: Any, guard: CallGuard) -> None:
        self.inner, self.guard = inner, guard

    def publish(self, key: str, body: str, *, title: str, audience: str | None) -> Published:
        with self.guard.side_effect():
            result: Published = self.inner.publish(key, body, title=title, audience=audience)
            return result


class LocalTool:
    """Runs `spec.run` on the tool's own threads so a CPU-bound or stuck tool never blocks the event loop
    nor starves other tools."""

    def __init__(self, spec: ToolSpec, *, documents: Any = None, reports: Any = None,
                 extras: dict[str, Any] | None = None, max_threads: int = DEFAULT_MAX_THREADS) -> None:
        if max_threads < 1:
            raise ValueError(f"max_threads must be at least 1, got {max_threads}")
        self.spec = spec
        self.documents = documents
        self.reports = reports
        self.extras = dict(extras or {})
        self.max_threads = max_threads
        self._executor = ThreadPoolExecutor(max_threads, thread_name_prefix=f"tool-{spec.name}")
        self._lock = threading.Lock()  # guards the counters and each call's state
        self.occupied = 0  # threads running a call of this tool, abandoned ones included
        self.abandoned = 0  # of those, calls whose caller gave up (they run until the tool returns)

    def __repr__(self) -> str:
        return f"LocalTool({self.spec.name!r})"

    async def invoke(self, args: BaseModel, *, task_id: str, call_id: str) -> dict[str, Any]:
        """Run the tool; a `ToolFailure` becomes a `ToolError` whose message the model sees. Cancelled
        (a timeout, a cancelled task), the call is abandoned: see the module docstring."""
        model = validated(self.spec, args)
        guard = CallGuard()
        reports = GuardedReports(self.reports, guard) if self.reports is not None else None
        ctx = ToolContext(task_id=task_id, call_id=call_id, documents=self.documents, reports=reports,
                          extras=self.extras, cancel=guard.cancel)
        state = _CallState()
        # As asyncio.to_thread does: the call sees the caller's context variables (log fields).
        run = functools.partial(contextvars.copy_context().run, self._run, model, ctx, state)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, run)
        except ToolFailure as exc:
            raise ToolError(exc.message) from None
        except asyncio.CancelledError:
            guard.refuse()
            self._abandon(state, task_id)
            if not await guard.settle():
                log.warning("an abandoned call is still writing", extra={"tool": self.spec.name, "task_id": task_id})
            raise

    def _run(self, model: BaseModel, ctx: ToolContext, state: _CallState) -> dict[str, Any]:
        with self._lock:
            if ctx.cancel.is_set():  # abandoned while it waited for a thread: it never starts
                raise CallAbandoned
            state.running = True
            self.occupied += 1
        try:
            return self.spec.run(model, ctx)
        finally:
            with self._lock:
                state.running = False
                self.occupied -= 1
                if state.abandoned:
                    self.abandoned -= 1

    def _abandon(self, state: _CallState, task_id: str) -> None:
        """Count a running call its caller gave up on; it holds one of this tool's threads until it returns."""
        with self._lock:
            if not state.running:
                return
            state.abandoned = True
            self.abandoned += 1
            occupied, abandoned = self.occupied, self.abandoned
        log.warning("a timed-out or cancelled call still runs in its thread", extra={
            "tool": self.spec.name, "task_id": task_id, "occupied": occupied, "abandoned": abandoned,
            "max_threads": self.max_threads})


class _CallState:
    """Whether one call runs in a thread now, and whether its caller gave up on it."""

    __slots__ = ("abandoned", "running")

    def __init__(self) -> None:
        self.running = False
        self.abandoned = False
