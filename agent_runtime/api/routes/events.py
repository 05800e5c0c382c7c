"""A task's events: live as Server-Sent Events (replay, then follow), or a page of JSON for pollers."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from agent_runtime.api.deps import (
    DIGITS,
    AgentName,
    ApiServices,
    Caller,
    Services,
    TaskId,
    authenticate,
    task_of,
)
from agent_runtime.api.errors import ApiError, error_responses
from agent_runtime.api.schemas import EventsPage
from agent_runtime.events import TERMINAL_TYPES, Event, ModelDelta, ModelTurn, parse_event
from agent_runtime.store.base import TaskRecord
from agent_runtime.store.notify import LiveInbox, live_key

router = APIRouter(prefix="/v1/agents/{agent}/tasks", tags=["tasks"], dependencies=[Depends(authenticate)])

STREAM_RETRY_AFTER_S = 5
# Cursors are event sequence numbers: ASCII digits, at most 18 of them, so every cursor fits the stores'
# 64-bit integers (a longer one, or digits of other scripts, is a 422, never a 500).
MAX_CURSOR = 10**18 - 1
CURSOR_PATTERN = r"^[0-9]{1,18}$"
EVENT_TYPES = sorted(model.model_fields["type"].default for model in get_args(get_args(Event)[0]))

# One message of the stream (OpenAPI 3.2's `itemSchema`, which FastAPI and schemathesis read in a 3.1
# document too): `id` the seq, `event` the type, `data` an `Event` as JSON. Heartbeats are comments.
# A live-only `model.delta` (streamed model text, never stored) has no `id`.
SSE_MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": CURSOR_PATTERN, "description": "the event's seq: send it back as "
               "Last-Event-ID to resume after it (absent on a live-only model.delta)"},
        "event": {"type": "string", "enum": [*EVENT_TYPES, "model.delta"], "description": "the event's type"},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "contentSchema": {"anyOf": [{"$ref": "#/components/schemas/Event"}, ModelDelta.model_json_schema()]},
                 "description": "the event, as JSON"},
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Server-Sent Events (id = seq, event = type, data = the event as JSON), ending after the "
                         "task's terminal event; with ?format=json, a page of events",
          "model": EventsPage,
          "content": {"text/event-stream": {"itemSchema": SSE_MESSAGE, "x-event-schema": "#/components/schemas/Event"}},
    },
    **error_responses(401, 404, 422, 429),
}

@router.get("/{task_id}/events", response_model=None, responses=_RESPONSES)
async def task_events(
    agent: AgentName,
    task_id: TaskId,
    services: Services,
    caller: Caller,
    after: Annotated[int, Query(ge=0, le=MAX_CURSOR, description="only events with a higher seq"), DIGITS] = 0,
    format: Annotated[str, Query(pattern="^(sse|json)$", description="sse (default) or json")] = "sse",
    limit: Annotated[int, Query(ge=1, le=1000, description="json format: most events per page"), DIGITS] = 500,
    # Declared `str`, not `str | None`: the document shows a plain string, since a client told the header
    # may be null would send the text "null". Absent, it is None (defaults are not validated).
    last_event_id: Annotated[str, Header(
        alias="Last-Event-ID", pattern=CURSOR_PATTERN,
        description="resume after this event seq (a reconnecting EventSource sends it); wins over ?after=",
    )] = None,  # type: ignore[assignment]
) -> Response:
    """Stream the task's events from the store: replay after `Last-Event-ID` (or `?after=`), then
    follow live until the terminal event; a heartbeat comment keeps idle connections open. A key may
    hold a bounded number of streams open at once (429 beyond)."""
    task = await task_of(services, agent, task_id, caller)
    cursor = int(last_event_id) if last_event_id is not None else after
    if format == "json":
        return await _events_page(services, task, cursor, limit)
    if not services.streams.acquire(caller.key_id):
        raise ApiError(429, "too_many_streams", f"this key has {services.streams.limit} event streams open; "
                       "close one or poll with ?format=json", {"Retry-After": str(STREAM_RETRY_AFTER_S)})
    return EventSourceResponse(_held(services, caller.key_id, _follow(services, task_id, cursor)),
                               ping=services.heartbeat_s,
                               headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events_page(services: ApiServices, task: TaskRecord, cursor: int, limit: int) -> JSONResponse:
    """Up to `limit` events after `cursor`, and whether the task's story is complete."""
    batch = await services.store.list_events(task.task_id, after=cursor, limit=limit)
    done = any(e.type in TERMINAL_TYPES for e in batch)
    if not done and task.terminal:  # the terminal event was before this page
        done = len(batch) < limit
    page = EventsPage(task_id=task.task_id, events=[json.loads(e.data) for e in batch],
                      next_after=batch[-1].seq if batch else cursor, done=done, state=task.state)
    return JSONResponse(page.model_dump(mode="json"))


async def _held(services: ApiServices, key_id: str, events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`events`, giving the key's stream slot back when the stream ends or the client goes away."""
    try:
        async for event in events:
            yield event
    finally:
        services.streams.release(key_id)


def sse_message(data: str, event: str, id: int | None = None) -> str:
    """One SSE message as `ServerSentEvent.encode` writes it (id, event, data lines, a blank line), built
    by hand for the one-line JSON of an event: the stream sends thousands a second."""
    if "\n" in data or "\r" in data:  # not one line: one `data:` line per line
        return ServerSentEvent(data=data, event=event, id=None if id is None else str(id)).encode().decode()
    head = "" if id is None else f"id: {id}\r\n"
    return f"{head}event: {event}\r\ndata: {data}\r\n\r\n"


async def _follow(services: ApiServices, task_id: str, cursor: int) -> AsyncIterator[bytes]:
    """Events after `cursor` as they are stored, until the terminal one (or the task settled without one);
    between them, the live-only `model.delta` events of a task this process runs (no `id:` line).
    The messages of one read of the store go out in one chunk (one write to the socket)."""
    with services.notifier.subscribed(live_key(task_id)) as live:
        async for message in _follow_store(services, task_id, cursor, live):
            yield message


async def _follow_store(services: ApiServices, task_id: str, cursor: int, live: LiveInbox) -> AsyncIterator[bytes]:
    store, notifier, poll_s = services.store, services.notifier, services.poll_s
    state_checked = 0.0
    deltas = _Deltas(live)
    while True:
        if pending := deltas.pending():
            yield pending
        with notifier.listening(("events", task_id)) as written:  # before the read: no write is missed
            batch = await store.list_events(task_id, after=cursor, limit=500)
            messages: list[str] = []
            for e in batch:
                event = parse_event(e.data)
                deltas.seen(event)
                # Re-serialized: every field, defaults included, as the document's `Event` says.
                messages.append(sse_message(event.model_dump_json(), e.type, e.seq))
                cursor = e.seq
                if e.type in TERMINAL_TYPES:
                    yield "".join(messages).encode()
                    return
            if batch:
                yield "".join(messages).encode()
                continue
            # Nothing new. A task settled without a terminal event after `cursor` has nothing more to say.
            if time.monotonic() - state_checked > 5 * poll_s:
                state_checked = time.monotonic()
                task = await store.get_task(task_id)
                if task.terminal and not await store.list_events(task_id, after=cursor, limit=1):
                    return
            await deltas.until(written, poll_s)


class _Deltas:
    """The live-only `model.delta` events of a followed task, sent as they come while the stream waits for
    stored events; a delta of a step whose `model.turn` was already sent is dropped (the turn has its text)."""

    def __init__(self, live: LiveInbox) -> None:
        self.live = live
        self.turn_step = 0

    def seen(self, event: Event) -> None:
        if isinstance(event, ModelTurn):
            self.turn_step = event.step

    def pending(self) -> bytes:
        """The deltas received since the last call, as one chunk of SSE messages (empty if none)."""
        return "".join(sse_message(d.model_dump_json(), d.type)
                       for d in self.live.take() if d.step > self.turn_step).encode()

    async def until(self, written: asyncio.Future[None], within_s: float) -> None:
        """Wait until `written` is done: a stored event was notified, a delta came (the inbox completes
        `written` too), or `within_s` seconds passed. The stream awaits the one future itself: the wake-up
        takes one turn of the event loop, not the three of `asyncio.wait` and its helper futures."""
        self.live.ready(written)
        if written.done():
            return
        timer = asyncio.get_running_loop().call_later(within_s, _complete, written)
        try:
            await written
        finally:
            timer.cancel()


def _complete(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
