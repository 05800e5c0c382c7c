"""The task list of an agent: the caller's tasks (every principal's for admins and approvers), newest
first, a page at a time behind an opaque cursor."""

import base64
import binascii
import json
import math
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from agent_runtime.api.deps import AgentName, Caller, Services, authenticate, runtime_of
from agent_runtime.api.errors import ApiError, error_responses
from agent_runtime.api.schemas import Links, task_links
from agent_runtime.store.base import ListPosition, TaskRecord, TaskState
from agent_runtime.table_keys import owns_task

router = APIRouter(prefix="/v1/agents/{agent}/tasks", tags=["tasks"], dependencies=[Depends(authenticate)])

MAX_CURSOR_CHARS = 256
INPUT_PREVIEW_CHARS = 280  # a list shows the start of each input; GET the task for all of it


class TaskSummary(BaseModel):
    """A task as the list shows it: what was asked (its start), where it stands, what it cost."""

    task_id: str
    agent: str
    state: TaskState
    input: str = Field(description=f"the task's input, cut to its first {INPUT_PREVIEW_CHARS} characters")
    session_id: str | None
    owner: str | None
    created_at: float
    updated_at: float
    finished_at: float | None
    stop_reason: str | None
    steps: int
    cost_usd: float
    cancel_requested: bool
    links: Links

    @classmethod
    def of(cls, t: TaskRecord) -> "TaskSummary":
        return cls(task_id=t.task_id, agent=t.agent, state=t.state, input=t.input[:INPUT_PREVIEW_CHARS],
                   session_id=t.session_id, owner=t.owner, created_at=t.created_at, updated_at=t.updated_at,
                   finished_at=t.finished_at, stop_reason=t.stop_reason, steps=t.steps, cost_usd=t.cost_usd,
                   cancel_requested=t.cancel_requested, links=task_links(t.agent, t.task_id))


class TaskList(BaseModel):
    """One page of an agent's tasks, newest first."""

    tasks: list[TaskSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page; null at the end. "
                                    "A page may hold fewer than `limit` tasks and still have a next one")


def encode_cursor(position: ListPosition) -> str:
    """The opaque cursor of a listing position (URL-safe base64 of a small JSON array)."""
    raw = json.dumps([position.created_at, position.task_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(agent: str, cursor: str) -> ListPosition:
    """The position a cursor of this agent's listing names; a 422 for anything else."""
    bad = ApiError(422, "validation_error", "cursor: not a cursor of this agent's task list (pass next_cursor as given)")
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    match value:
        case [int() | float() as created_at, str() as task_id] if (
            not isinstance(created_at, bool) and math.isfinite(created_at) and created_at >= 0
            and len(task_id) <= 128 and owns_task(agent, task_id)
        ):
            return ListPosition(float(created_at), task_id)
    raise bad


@router.get("", response_model=TaskList, responses=error_responses(401, 404, 422, 429))
async def list_tasks(
    agent: AgentName, services: Services, caller: Caller,
    state: Annotated[TaskState | None, Query(description="only tasks in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="at most this many tasks")] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=MAX_CURSOR_CHARS, pattern=r"^[A-Za-z0-9_-]+$",
                                        description="next_cursor of the page before")] = None,
) -> TaskList:
    """The agent's tasks the caller may read (its own; every principal's for admins and approvers),
    newest first, filtered by state, a page at a time."""
    runtime_of(services, agent)
    after = decode_cursor(agent, cursor) if cursor is not None else None
    owner = None if caller.reads_all else caller.name
    page = await services.store.list_tasks(agent, owner=owner, state=state, limit=limit, after=after)
    return TaskList(tasks=[TaskSummary.of(t) for t in page.tasks],
                    next_cursor=encode_cursor(page.next) if page.next is not None else None)
