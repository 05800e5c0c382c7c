"""What every route needs, declared once: the services on `app.state`, the caller (the principal the
gate authenticated), path parameters, and the agent/task look-ups that turn a miss - or a task the
caller may not see - into a 404."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from agent_runtime.api.auth import KeySource
from agent_runtime.api.errors import ApiError
from agent_runtime.api.gate import RateLimiter, StreamSlots, principal_of
from agent_runtime.api.schemas import TaskView
from agent_runtime.errors import NotFoundError
from agent_runtime.principals import Principal
from agent_runtime.queue.base import TaskQueue
from agent_runtime.store.base import SessionBusyPolicy, Store, TaskRecord, waiting_for
from agent_runtime.store.notify import Notifier
from agent_runtime.table_keys import owns_task
from agent_runtime.worker import AgentRuntime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiServices:
    """Everything the routes work with, held once on `app.state.services`.

    `notify_cancel` wakes whoever runs the task (the worker) when the API flags a cancel; the
    SSE timings are the heartbeat comment's period and the fallback poll of the store. `limiter`
    and `streams` bound each principal's request rate and each key's open event streams;
    `require_second_approver` refuses a submitter's approval of its own task's call; `session_busy` says
    what a submit on a session whose earlier task has not ended does (wait its turn, or 409);
    `quota_bytes_per_day` bounds the bytes a principal's new tasks store per UTC day and agent (0: off).
    """

    store: Store
    queue: TaskQueue
    agents: Mapping[str, AgentRuntime]
    keys: KeySource
    notifier: Notifier
    notify_cancel: Callable[[str], None]
    heartbeat_s: float = 15.0
    poll_s: float = 1.0
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(per_s=0.0, burst=1.0))
    streams: StreamSlots = field(default_factory=lambda: StreamSlots(limit=0))
    require_second_approver: bool = False
    session_busy: SessionBusyPolicy = "queue"
    quota_bytes_per_day: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_s <= 15:
            raise ValueError("heartbeat_s must be within (0, 15] (the load balancer's idle timeout needs it)")

    @property
    def agent_names(self) -> list[str]:
        """The agents this process serves, sorted."""
        return sorted(self.agents)


async def get_services(request: Request) -> ApiServices:
    """The app's services (set by `create_app`). Async: FastAPI runs a plain function dependency in a
    worker thread, a hop per request."""
    return cast(ApiServices, request.app.state.services)


Services = Annotated[ApiServices, Depends(get_services)]

bearer = HTTPBearer(auto_error=False, description="an API key")


async def authenticate(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller. The gate (`api.gate.Gate`) authenticated it from the headers before the body was read;
    declared on the routers so that the OpenAPI document names the Bearer scheme."""
    principal = principal_of(request.scope)
    if principal is None:  # only an app assembled without the gate gets here
        raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
                       {"WWW-Authenticate": "Bearer"})
    return principal


Caller = Annotated[Principal, Depends(authenticate)]


def require_role(caller: Principal, role: str, doing: str) -> None:
    """403 unless the caller holds `role`."""
    if not caller.has(role):
        raise ApiError(403, "forbidden", f"principal {caller.name!r} may not {doing}: it needs the {role!r} role")


# The served agents are added to the OpenAPI document as this parameter's enum (see `app.py`): they are
# known only when the app is built. Unknown names are a 404 from `runtime_of`, not a validation error.
def _decimal_digits(value: Any) -> Any:
    """A query's whole number as ASCII digits only: pydantic's lax parsing would also take `+5`, ` 5`,
    `1_0` and `5.0`, which the document (type integer) does not."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError("int_digits", "Input should be a whole number written with the digits 0-9")
    return value


# A whole number in a query string (`?limit=`, `?after=`) is written with ASCII digits: `Annotated[int,
# Query(...), DIGITS]` (after the `Query`, or the document loses its bounds).
DIGITS = BeforeValidator(_decimal_digits)

AgentName = Annotated[str, Path(max_length=64, description="agent name")]
TaskId = Annotated[str, Path(min_length=1, max_length=128, description="task id")]


def runtime_of(services: ApiServices, agent: str) -> AgentRuntime:
    """The served agent of that name, else a 404 naming the ones served."""
    runtime = services.agents.get(agent)
    if runtime is None:
        names = ", ".join(services.agent_names)
        raise ApiError(404, "unknown_agent", f"unknown agent {agent!r}; this server runs: {names}")
    return runtime


def may_read(caller: Principal, task: TaskRecord) -> bool:
    """A principal reads its own tasks; admins and approvers read every task."""
    return caller.reads_all or (task.owner is not None and task.owner == caller.name)


async def task_of(services: ApiServices, agent: str, task_id: str, caller: Principal) -> TaskRecord:
    """The task, if it exists, belongs to that agent and the caller may read it; else a 404 (the same
    404 whether the task is missing or another principal's, so ids cannot be probed)."""
    runtime_of(services, agent)
    missing = ApiError(404, "task_not_found", f"no task {task_id!r} for agent {agent!r}")
    if not owns_task(agent, task_id):  # another agent's id: this agent's role may not even read it
        raise missing
    try:
        task = await services.store.get_task(task_id)
    except NotFoundError:
        raise missing from None
    if task.agent != agent or not may_read(caller, task):
        raise missing
    return task


async def task_view(services: ApiServices, task: TaskRecord) -> TaskView:
    """The task as the API shows it, with its pending approvals while it is not over, and the session's
    earlier task it waits for while queued behind it."""
    store = services.store
    pending = await store.list_approvals(task.task_id, pending_only=True) if not task.terminal else []
    return TaskView.of(task, pending, waiting_for=await waiting_for(store, task))
