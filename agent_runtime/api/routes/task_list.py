"""The task list of an agent: the caller's tasks (every principal's for admins and approvers), newest
first, a page at a time behind an opaque cursor."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from agent_runtime.api.deps import DIGITS, AgentName, Caller, Services, authenticate, runtime_of
from agent_runtime.api.errors import ApiError, error_responses
from agent_runtime.api.schemas import Links, task_links
from agent_runtime.store.base import ListPosition, TaskRecord, TaskState

router = APIRouter(prefix="/v1/agents/{agent}/tasks", tags=["tasks"], dependencies=[Depends(authenticate)])

MAX_CURSOR_CHARS = 128
QUERY_PARAMETERS = frozenset({"state", "limit", "cursor"})
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


# A cursor names the last task a page looked at: its exact creation time (Python's shortest round-trip
# repr) and its id. Any string of this shape is a position in the list (one of another agent names no task
# of this one and just starts a page there), so the pattern is the whole validation: the OpenAPI document
# says exactly which cursors are accepted.
CURSOR_PATTERN = r"^[0-9]{1,12}\.[0-9]{1,17}_[a-z][a-z0-9_]{0,31}-[0-9a-f]{32}$"


def encode_cursor(position: ListPosition) -> str:
    """The cursor of a listing position, `<created_at>_<task id>`; clients pass it back as given."""
    return f"{position.created_at!r}_{position.task_id}"


def decode_cursor(cursor: str) -> ListPosition:
    """The position a cursor (already matched against `CURSOR_PATTERN`) names."""
    created_at, _, task_id = cursor.partition("_")
    return ListPosition(float(created_at), task_id)


@router.get("", response_model=TaskList, responses=error_responses(401, 404, 422, 429))
async def list_tasks(
    agent: AgentName, request: Request, services: Services, caller: Caller,
    state: Annotated[TaskState | None, Query(description="only tasks in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="at most this many tasks"), DIGITS] = 20,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS, pattern=CURSOR_PATTERN,
                                        description="next_cursor of the page before, as given")] = None,
) -> TaskList:
    """The agent's tasks the caller may read (its own; every principal's for admins and approvers),
    newest first, filtered by state, a page at a time."""
    runtime_of(services, agent)
    unknown = sorted(set(request.query_params) - QUERY_PARAMETERS)
    if unknown:  # a misspelt filter must not silently list everything
        raise ApiError(422, "validation_error", f"unknown query parameter(s) {unknown}; known: state, limit, cursor")
    after = decode_cursor(cursor) if cursor is not None else None
    owner = None if caller.reads_all else caller.name
    page = await services.store.list_tasks(agent, owner=owner, state=state, limit=limit, after=after)
    return TaskList(tasks=[TaskSummary.of(t) for t in page.tasks],
                    next_cursor=encode_cursor(page.next) if page.next is not None else None)
