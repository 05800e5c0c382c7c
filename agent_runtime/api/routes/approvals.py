"""Approvals: a human approves or rejects a sensitive tool call a task is waiting on."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from agent_runtime.api.deps import AgentName, Services, TaskId, authenticate, task_of
from agent_runtime.api.errors import ApiError, error_responses
from agent_runtime.api.schemas import ApprovalView, DecideApproval, task_links
from agent_runtime.errors import NotFoundError

router = APIRouter(prefix="/v1/agents/{agent}/tasks", tags=["approvals"], dependencies=[Depends(authenticate)])

CallId = Annotated[str, Path(min_length=1, max_length=200, description="the tool call's id")]


@router.post("/{task_id}/approvals/{call_id}", response_model=ApprovalView,
             responses=error_responses(401, 404, 409, 413, 422))
async def decide_approval(
    agent: AgentName, task_id: TaskId, call_id: CallId, body: DecideApproval, services: Services,
) -> ApprovalView:
    """Approve or reject a sensitive tool call. Deciding twice or after the deadline is a 409."""
    store = services.store
    task = await task_of(services, agent, task_id)
    try:
        await store.get_approval(task_id, call_id)
    except NotFoundError:
        raise ApiError(404, "approval_not_found", f"task {task_id} has no approval {call_id!r}") from None
    if task.terminal:
        raise ApiError(409, "task_ended", f"task {task_id} already {task.state}")
    record = await store.decide_approval(task_id, call_id, approved=body.approve, reason=body.reason,
                                         decided_by="api")
    services.notifier.notify(("approval", task_id, call_id))
    return ApprovalView.of(record, task_links(agent, task_id).self)
