"""The task API: submit, read, stream (SSE), approve, cancel; agents and health.

Every response that is not a success is `{"error": {"code", "message"}}` with the
status that fits. The app optionally owns a worker, started and stopped with it, so
one process serves the API and runs the tasks.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures, whose types are
# defined inside create_app, at run time.
import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_runtime import __version__
from agent_runtime.agents import AGENTS
from agent_runtime.api.auth import KeySource, key_matches
from agent_runtime.api.schemas import (
    AgentsView,
    AgentView,
    ApprovalView,
    DecideApproval,
    ErrorBody,
    EventsPage,
    Health,
    SubmitTask,
    TaskAccepted,
    TaskView,
    ToolView,
    task_links,
)
from agent_runtime.errors import AgentPlatformError, ConflictError, NotFoundError, StoreError
from agent_runtime.events import TERMINAL_TYPES, TaskCancelled, TaskFailed, Usage
from agent_runtime.queue.base import TaskQueue
from agent_runtime.store.base import Store, TaskRecord, request_hash
from agent_runtime.store.notify import Notifier
from agent_runtime.worker import AgentRuntime, Worker
from lambda_tools.catalog import get_tool

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 256 * 1024
_STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "too_many_requests", 500: "internal_error", 503: "unavailable",
}


class ApiError(Exception):
    """An error response with a stable code."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
           details: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=dict(headers or {}))


def _where(loc: Sequence[str]) -> str:
    """'body.limits.max_steps' -> 'limits.max_steps'; 'header.Idempotency-Key' stays as is."""
    if len(loc) > 1 and loc[0] == "body":
        return ".".join(loc[1:])
    return ".".join(loc) or "request"


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {401: "missing or invalid API key", 404: "unknown agent, task or approval",
                    409: "conflicting state", 413: "request body too large", 422: "invalid request",
                    503: "store or queue unavailable"}
    return {s: {"model": ErrorBody, "description": descriptions.get(s, "error")} for s in statuses}


class BodyLimit:
    """Rejects request bodies over `max_bytes` with 413 before the app reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = _error(413, "payload_too_large", f"request body is larger than {self.max_bytes} bytes")
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _error(400, "bad_request", "invalid Content-Length")(scope, receive, send)
                    return
                if declared > self.max_bytes:
                    await too_large(scope, receive, send)
                    return
        # Read (bounded) now, replay to the app: bodies here are small by design.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


def create_app(
    *,
    store: Store,
    queue: TaskQueue,
    agents: Mapping[str, AgentRuntime],
    keys: KeySource,
    notifier: Notifier | None = None,
    worker: Worker | None = None,
    recover: bool = False,
    heartbeat_s: float = 15.0,
    poll_s: float = 1.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    """The FastAPI app over a store and a queue, for the given agents.

    With a `worker`, the app starts it on start-up (re-enqueueing unfinished tasks first when
    `recover`) and stops it on shutdown, handing running tasks back to the queue.
    """
    if not 0 < heartbeat_s <= 15:
        raise ValueError("heartbeat_s must be within (0, 15] (the load balancer's idle timeout needs it)")
    notifier = notifier or (worker.notifier if worker is not None else Notifier())
    names = sorted(agents)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runner: asyncio.Task[None] | None = None
        if worker is not None:
            if recover:
                await worker.recover()
            runner = asyncio.create_task(worker.run(), name="worker")
        try:
            yield
        finally:
            if worker is not None and runner is not None:
                await worker.stop()
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
            if on_shutdown is not None:
                await on_shutdown()

    app = FastAPI(
        title="Agent platform task API",
        version=__version__,
        description="Submit tasks to the research, content and analysis agents, follow them live (SSE), "
                    "approve sensitive tool calls, cancel, and read results and costs.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    bearer = HTTPBearer(auto_error=False, description="an API key")

    # -- errors ----------------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # e.g. not UTF-8
            return _error(422, "validation_error", "the request body is not valid JSON")
        return _error(exc.status_code, _STATUS_CODES.get(exc.status_code, "error"), str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        summary = "; ".join(f"{_where(d['loc'])}: {d['msg']}" for d in details[:5])
        return _error(422, "validation_error", summary or "invalid request", details=details[:20])

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return _error(409, "conflict", str(exc))

    @app.exception_handler(AgentPlatformError)
    async def _platform_error(_: Request, exc: AgentPlatformError) -> JSONResponse:
        log.warning("request failed: %s", exc)
        status = 503 if isinstance(exc, StoreError) else 500
        return _error(status, _STATUS_CODES[status], "the task store is unavailable; retry later"
                      if status == 503 else "internal error")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in request")
        return _error(500, "internal_error", "internal error")

    # -- dependencies ---------------------------------------------------------------------

    async def authenticate(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        challenge = {"WWW-Authenticate": "Bearer"}
        if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
            raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'", challenge)
        try:
            accepted = await keys.keys()
        except Exception:
            log.exception("could not load API keys")
            raise ApiError(503, "unavailable", "API keys could not be loaded; retry later") from None
        if not key_matches(creds.credentials, accepted):
            raise ApiError(401, "unauthorized", "invalid API key", challenge)

    AgentName = Annotated[str, Path(max_length=64, description="agent name", json_schema_extra={"enum": names})]
    TaskId = Annotated[str, Path(min_length=1, max_length=128, description="task id")]

    def runtime_of(agent: str) -> AgentRuntime:
        runtime = agents.get(agent)
        if runtime is None:
            raise ApiError(404, "unknown_agent", f"unknown agent {agent!r}; this server runs: {', '.join(names)}")
        return runtime

    async def task_of(agent: str, task_id: str) -> TaskRecord:
        runtime_of(agent)
        try:
            task = await store.get_task(task_id)
        except NotFoundError:
            raise ApiError(404, "task_not_found", f"no task {task_id!r} for agent {agent!r}") from None
        if task.agent != agent:
            raise ApiError(404, "task_not_found", f"no task {task_id!r} for agent {agent!r}")
        return task

    async def view(task: TaskRecord) -> TaskView:
        pending = await store.list_approvals(task.task_id, pending_only=True) if not task.terminal else []
        return TaskView.of(task, pending)

    auth = [Depends(authenticate)]

    # -- routes -------------------------------------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        """Liveness for the load balancer; no authentication."""
        return Health(status="ok", agents=names)

    @app.get("/v1/agents", response_model=AgentsView, dependencies=auth, tags=["agents"],
             responses=_responses(401))
    async def list_agents() -> AgentsView:
        """The platform's agents, with their tools and default limits. In AWS each service runs one agent
        and the load balancer sends this path to one of them, so the others are listed from their specs."""
        out = []
        for name in sorted({*names, *AGENTS}):
            if name in agents:
                spec, specs = agents[name].spec, [t.spec for t in agents[name].tools.values()]
            else:
                spec = AGENTS[name]
                specs = [get_tool(tool) for tool in spec.tools]
            tools = [ToolView(name=s.name, description=s.description, sensitive=s.sensitive) for s in specs]
            out.append(AgentView(name=name, description=spec.description, tools=tools,
                                 limits=spec.limits.model_dump()))
        return AgentsView(agents=out)

    @app.post("/v1/agents/{agent}/tasks", status_code=202, response_model=TaskAccepted, dependencies=auth,
              tags=["tasks"], responses=_responses(401, 404, 409, 413, 422, 503))
    async def submit_task(
        agent: AgentName,
        body: SubmitTask,
        response: Response,
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
            description="retrying with the same key and body returns the same task; another body is a 409",
        )] = None,
    ) -> TaskAccepted:
        """Submit a task; it runs in the background. Follow it at `links.events`."""
        runtime = runtime_of(agent)
        overrides = body.limit_overrides()
        try:
            runtime.spec.limits.merged(overrides)
        except ValueError as exc:
            raise ApiError(422, "validation_error", f"limits: {exc}") from None
        task = TaskRecord(
            task_id=f"{agent}-{uuid.uuid4().hex}", agent=agent, input=body.input, session_id=body.session_id,
            metadata=body.metadata, limits=overrides,
        )
        digest = request_hash({"agent": agent, **body.model_dump(mode="json")}) if idempotency_key else None
        task, created = await store.create_task(task, idempotency_key=idempotency_key, body_hash=digest)
        if created:
            try:
                await queue.send(task.task_id, agent)
            except Exception as exc:
                log.exception("could not enqueue task", extra={"task_id": task.task_id})
                await _abandon(task, f"could not enqueue the task: {type(exc).__name__}")
                raise ApiError(503, "unavailable", "the task queue is unavailable; retry later") from None
        else:
            response.headers["Idempotent-Replayed"] = "true"
        links = task_links(agent, task.task_id)
        response.headers["Location"] = links.self
        return TaskAccepted(task_id=task.task_id, agent=agent, state=task.state, created_at=task.created_at,
                            links=links)

    async def _abandon(task: TaskRecord, reason: str) -> None:
        event = TaskFailed(task_id=task.task_id, seq=1, ts=time.time(), steps=0, usage=Usage(), cost_usd=0.0,
                           stop_reason="error", error=reason)
        with contextlib.suppress(Exception):
            await store.finish_task(task.task_id, event, from_states=("queued",))

    @app.get("/v1/agents/{agent}/tasks/{task_id}", response_model=TaskView, dependencies=auth, tags=["tasks"],
             responses=_responses(401, 404, 422))
    async def get_task(agent: AgentName, task_id: TaskId) -> TaskView:
        """A task's state, result, stop reason, steps, usage, cost, timestamps and pending approvals."""
        return await view(await task_of(agent, task_id))

    @app.get(
        "/v1/agents/{agent}/tasks/{task_id}/events", dependencies=auth, tags=["tasks"], response_model=None,
        responses={200: {"description": "Server-Sent Events (id = seq, event = type, data = the event as JSON); "
                                        "with ?format=json, a page of events",
                         "content": {"text/event-stream": {"schema": {"type": "string"}},
                                     "application/json": {"schema": EventsPage.model_json_schema(
                                         ref_template="#/components/schemas/{model}")}}},
                   **_responses(401, 404, 422)},
    )
    async def task_events(
        agent: AgentName,
        task_id: TaskId,
        after: Annotated[int, Query(ge=0, le=10**9, description="only events with a higher seq")] = 0,
        format: Annotated[str, Query(pattern="^(sse|json)$", description="sse (default) or json")] = "sse",
        limit: Annotated[int, Query(ge=1, le=1000, description="json format: most events per page")] = 500,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    ) -> Response:
        """Stream the task's events from the store: replay after `Last-Event-ID` (or `?after=`), then
        follow live until the terminal event; a heartbeat comment keeps idle connections open."""
        task = await task_of(agent, task_id)
        cursor = after
        if last_event_id:
            if not last_event_id.strip().isdigit():
                raise ApiError(422, "validation_error", "Last-Event-ID must be an event sequence number")
            cursor = int(last_event_id)
        if format == "json":
            return await _events_page(task, cursor, limit)
        return EventSourceResponse(_follow(task_id, cursor), ping=heartbeat_s,
                                   headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _events_page(task: TaskRecord, cursor: int, limit: int) -> JSONResponse:
        batch = await store.list_events(task.task_id, after=cursor, limit=limit)
        done = any(e.type in TERMINAL_TYPES for e in batch)
        if not done and task.terminal:  # the terminal event was before this page
            done = len(batch) < limit
        page = EventsPage(task_id=task.task_id, events=[json.loads(e.data) for e in batch],
                          next_after=batch[-1].seq if batch else cursor, done=done, state=task.state)
        return JSONResponse(page.model_dump(mode="json"))

    async def _follow(task_id: str, cursor: int) -> AsyncIterator[ServerSentEvent]:
        state_checked = 0.0
        while True:
            with notifier.listening(("events", task_id)) as written:  # before the read: no write is missed
                batch = await store.list_events(task_id, after=cursor, limit=500)
                for e in batch:
                    yield ServerSentEvent(data=e.data, event=e.type, id=str(e.seq))
                    cursor = e.seq
                    if e.type in TERMINAL_TYPES:
                        return
                if batch:
                    continue
                # Nothing new. A task settled without a terminal event after `cursor` has nothing more to say.
                if time.monotonic() - state_checked > 5 * poll_s:
                    state_checked = time.monotonic()
                    task = await store.get_task(task_id)
                    if task.terminal and not await store.list_events(task_id, after=cursor, limit=1):
                        return
                await notifier.wait_for(written, poll_s)

    @app.post("/v1/agents/{agent}/tasks/{task_id}/approvals/{call_id}", response_model=ApprovalView,
              dependencies=auth, tags=["approvals"], responses=_responses(401, 404, 409, 413, 422))
    async def decide_approval(
        agent: AgentName, task_id: TaskId,
        call_id: Annotated[str, Path(min_length=1, max_length=200, description="the tool call's id")],
        body: DecideApproval,
    ) -> ApprovalView:
        """Approve or reject a sensitive tool call. Deciding twice or after the deadline is a 409."""
        task = await task_of(agent, task_id)
        try:
            await store.get_approval(task_id, call_id)
        except NotFoundError:
            raise ApiError(404, "approval_not_found", f"task {task_id} has no approval {call_id!r}") from None
        if task.terminal:
            raise ApiError(409, "task_ended", f"task {task_id} already {task.state}")
        record = await store.decide_approval(task_id, call_id, approved=body.approve, reason=body.reason,
                                             decided_by="api")
        notifier.notify(("approval", task_id, call_id))
        return ApprovalView.of(record, task_links(agent, task_id).self)

    @app.post("/v1/agents/{agent}/tasks/{task_id}/cancel", status_code=202, response_model=TaskView,
              dependencies=auth, tags=["tasks"], responses=_responses(401, 404, 409, 422))
    async def cancel_task(agent: AgentName, task_id: TaskId) -> TaskView:
        """Cancel a task: the loop stops, in-flight tool calls included; usage so far is kept."""
        task = await task_of(agent, task_id)
        if task.terminal:
            raise ApiError(409, "task_ended", f"task {task_id} already {task.state}")
        task = await store.request_cancel(task_id)
        if task.state == "queued":  # no worker has it yet: settle it here
            seq = await store.last_seq(task_id) + 1
            event = TaskCancelled(task_id=task_id, seq=seq, ts=time.time(), steps=task.steps, usage=task.usage,
                                  cost_usd=task.cost_usd, stop_reason="cancelled", reason="cancelled before it started")
            with contextlib.suppress(ConflictError):  # a worker claimed it meanwhile; it sees the flag
                task = await store.finish_task(task_id, event, from_states=("queued",))
                notifier.notify(("events", task_id))
        notifier.notify(("cancel", task_id))
        return await view(task)

    return app
