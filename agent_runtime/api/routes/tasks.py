"""Tasks: submit one to an agent, read it, cancel it."""

import contextlib
import logging
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from agent_runtime import tracing
from agent_runtime.api.deps import (
    AgentName,
    ApiServices,
    Caller,
    Services,
    TaskId,
    authenticate,
    require_role,
    runtime_of,
    task_of,
    task_view,
)
from agent_runtime.api.errors import ApiError, error_responses
from agent_runtime.api.schemas import SubmitTask, TaskAccepted, TaskView, task_links
from agent_runtime.errors import ConflictError, SessionBusyError
from agent_runtime.events import TaskCancelled, TaskFailed, Usage
from agent_runtime.quotas import (
    QuotaCharge,
    QuotaExceededError,
    reset_at,
    seconds_to_reset,
    stored_bytes,
    utc_day,
)
from agent_runtime.store.base import TaskRecord, request_hash

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/agents/{agent}/tasks", tags=["tasks"], dependencies=[Depends(authenticate)])

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="retrying with the same key and body returns the same task; another body is a 409",
)]


@router.post("", status_code=202, response_model=TaskAccepted,
             responses=error_responses(400, 401, 403, 404, 408, 409, 413, 422, 429, 503))
async def submit_task(
    agent: AgentName, body: SubmitTask, response: Response, services: Services, caller: Caller, request: Request,
    idempotency_key: IdempotencyKey = None,
) -> TaskAccepted:
    """Submit a task (the `submit` role); it runs in the background, owned by the caller's principal.
    Tasks of one session run one at a time in submit order: a later one waits, queued, for the one
    before it (or, with AGENT_PLATFORM_SESSION_BUSY=reject, is refused with 409). Follow it at `links.events`."""
    # With tracing on, the request's span (continuing a caller's `traceparent`) is stored with the task:
    # the worker's spans, and through them the Lambda tools', join its trace.
    with tracing.server_span("POST /v1/agents/{agent}/tasks", request.headers, **{
            "http.request.method": "POST", "http.route": "/v1/agents/{agent}/tasks", "gen_ai.agent.name": agent,
    }) as traceparent:
        return await _submit(agent, body, response, services, caller, idempotency_key, traceparent)


async def _submit(agent: str, body: SubmitTask, response: Response, services: ApiServices, caller: Caller,
                  idempotency_key: str | None, traceparent: str | None) -> TaskAccepted:
    runtime = runtime_of(services, agent)
    require_role(caller, "submit", "submit tasks")
    overrides = body.limit_overrides()
    try:
        runtime.spec.limits.merged(overrides)
    except ValueError as exc:
        raise ApiError(422, "validation_error", f"limits: {exc}") from None
    task = TaskRecord(
        task_id=f"{agent}-{uuid.uuid4().hex}", agent=agent, input=body.input, session_id=body.session_id,
        metadata=body.metadata, limits=overrides, owner=caller.name, trace_context=traceparent,
    )
    digest = request_hash({"agent": agent, **body.model_dump(mode="json")}) if idempotency_key else None
    # Idempotency keys are per principal ('#' is not in principal names): another's key finds nothing.
    scoped_key = f"{caller.name}#{idempotency_key}" if idempotency_key else None
    try:
        with tracing.span("create_task", **{"db.operation.name": "create_task"}):
            task, created = await services.store.create_task(task, idempotency_key=scoped_key, body_hash=digest,
                                                             session_busy=services.session_busy,
                                                             quota=_quota_charge(services, task))
    except QuotaExceededError as exc:
        raise _quota_refusal(exc) from None
    except SessionBusyError as exc:  # AGENT_PLATFORM_SESSION_BUSY=reject
        raise ApiError(409, "session_busy", f"session {body.session_id!r} is busy: {exc}; submit again when "
                       f"{exc.waiting_for} has ended") from None
    if created:
        try:
            with tracing.span(f"send {agent}", **{"messaging.operation.type": "send",
                                                  "messaging.destination.name": agent}):
                await services.queue.send(task.task_id, agent)
        except Exception as exc:
            log.exception("could not enqueue task", extra={"task_id": task.task_id})
            await _abandon(services, task, f"could not enqueue the task: {type(exc).__name__}")
            raise ApiError(503, "unavailable", "the task queue is unavailable; retry later") from None
    else:
        response.headers["Idempotent-Replayed"] = "true"
    links = task_links(agent, task.task_id)
    response.headers["Location"] = links.self
    return TaskAccepted(task_id=task.task_id, agent=agent, state=task.state, created_at=task.created_at,
                        links=links)


def _quota_charge(services: ApiServices, task: TaskRecord) -> QuotaCharge | None:
    """What the new task costs its principal's stored bytes of the (UTC) day; None with the quota off."""
    if services.quota_bytes_per_day <= 0 or task.owner is None:
        return None
    return QuotaCharge(agent=task.agent, principal=task.owner, day=utc_day(time.time()),
                       nbytes=stored_bytes(task.input, task.metadata), limit=services.quota_bytes_per_day)


def _quota_refusal(exc: QuotaExceededError) -> ApiError:
    """The 429 for a submit past its principal's stored bytes of the day, retryable at the next UTC midnight."""
    charge, ts = exc.charge, time.time()
    return ApiError(429, "quota_exceeded", (
        f"principal {charge.principal!r} has stored {exc.used} of its {charge.limit} bytes per day on agent "
        f"{charge.agent!r} today ({charge.day}, UTC); this task needs {charge.nbytes} more. The quota resets "
        f"at {reset_at(ts)}"), {"Retry-After": str(seconds_to_reset(ts))})


async def _abandon(services: ApiServices, task: TaskRecord, reason: str) -> None:
    """Fail a task that never reached the queue, so it does not sit queued forever."""
    event = TaskFailed(task_id=task.task_id, seq=1, ts=time.time(), steps=0, usage=Usage(), cost_usd=0.0,
                       stop_reason="error", error=reason)
    with contextlib.suppress(Exception):
        await services.store.finish_task(task.task_id, event, from_states=("queued",))


@router.get("/{task_id}", response_model=TaskView, responses=error_responses(401, 404, 422, 429))
async def get_task(agent: AgentName, task_id: TaskId, services: Services, caller: Caller) -> TaskView:
    """A task's state, result, stop reason, steps, usage, cost, timestamps and pending approvals."""
    return await task_view(services, await task_of(services, agent, task_id, caller))


@router.post("/{task_id}/cancel", status_code=202, response_model=TaskView,
             responses=error_responses(401, 403, 404, 409, 422, 429))
async def cancel_task(agent: AgentName, task_id: TaskId, services: Services, caller: Caller) -> TaskView:
    """Cancel a task (its submitter, or an admin): the loop stops, in-flight tool calls included; usage
    so far is kept. A 202 means the task ends `cancelled` (the store took the cancel while the task was
    active, and the worker's end of the task is conditional on no cancel); a task that ended first is
    a 409 `task_ended` naming its state."""
    store, notifier = services.store, services.notifier
    task = await task_of(services, agent, task_id, caller)
    if not caller.admin and task.owner != caller.name:  # an approver reads it, but it is not theirs
        raise ApiError(403, "forbidden", f"principal {caller.name!r} may not cancel another principal's task")
    if not task.terminal:
        try:
            task = await store.request_cancel(task_id)
        except ConflictError:  # it ended between the read and the write (conditional on an active task)
            task = await store.get_task(task_id)
    if task.terminal:
        raise ApiError(409, "task_ended", f"task {task_id} already {task.state}")
    if task.state == "queued":  # no worker has it yet: settle it here
        seq = await store.last_seq(task_id) + 1
        event = TaskCancelled(task_id=task_id, seq=seq, ts=time.time(), steps=task.steps, usage=task.usage,
                              cost_usd=task.cost_usd, stop_reason="cancelled", reason="cancelled before it started")
        with contextlib.suppress(ConflictError):  # a worker claimed it meanwhile; it sees the flag
            task = await store.finish_task(task_id, event, from_states=("queued",))
            notifier.notify(("events", task_id))
    services.notify_cancel(task_id)
    return await task_view(services, task)
