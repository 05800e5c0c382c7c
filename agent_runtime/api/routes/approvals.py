"""Approvals: a human approves or rejects a sensitive tool call a task is waiting on."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from agent_runtime.api.deps import AgentName, Caller, Services, TaskId, authenticate, require_role, task_of
from agent_runtime.api.errors import ApiError, error_responses
from agent_runtime.api.schemas import ApprovalList, ApprovalView, DecideApproval, task_links
from agent_runtime.errors import ConflictError, NotFoundError

router = APIRouter(prefix="/v1/agents/{agent}/tasks", tags=["approvals"], dependencies=[Depends(authenticate)])

CallId = Annotated[str, Path(min_length=1, max_length=200, description="the tool call's id")]


@router.get("/{task_id}/approvals", response_model=ApprovalList, responses=error_responses(401, 404, 422, 429))
async def list_approvals(
    agent: AgentName, task_id: TaskId, services: Services, caller: Caller,
    status: Annotated[Literal["pending", "approved", "rejected"] | None,
                      Query(description="only approvals with this status")] = None,
) -> ApprovalList:
    """The task's approvals (sensitive tool calls), in the order they were requested; `?status=pending`
    for those waiting for a decision, each with the URL to POST it to."""
    await task_of(services, agent, task_id, caller)
    records = await services.store.list_approvals(task_id, pending_only=status == "pending")
    base = task_links(agent, task_id).self
    return ApprovalList(approvals=[ApprovalView.of(a, base) for a in records if status in (None, a.status)])


@router.post("/{task_id}/approvals/{call_id}", response_model=ApprovalView,
             responses=error_responses(400, 401, 403, 404, 408, 409, 413, 422, 429))
async def decide_approval(
    agent: AgentName, task_id: TaskId, call_id: CallId, body: DecideApproval, services: Services, caller: Caller,
) -> ApprovalView:
    """Approve or reject a sensitive tool call (the `approve` role). Deciding twice or after the deadline
    is a 409; so is deciding once the task's cancel was accepted (`task_cancelled`: the store orders the
    two, so a 200 means the decision was stored before any cancel); approving a call of one's own task
    while a second approver is required is a 403."""
    store = services.store
    task = await task_of(services, agent, task_id, caller)
    require_role(caller, "approve", "decide approvals")
    try:
        await store.get_approval(task_id, call_id)
    except NotFoundError:
        raise ApiError(404, "approval_not_found", f"task {task_id} has no approval {call_id!r}") from None
    if task.terminal:
        raise ApiError(409, "task_ended", f"task {task_id} already {task.state}")
    if body.approve and services.require_second_approver and not caller.admin and task.owner == caller.name:
        raise ApiError(403, "second_approver_required", f"task {task_id} was submitted by {caller.name!r}; "
                       "another principal must approve its sensitive calls (rejecting them is allowed)")
    if task.cancel_requested:
        raise _lost_to_cancel(task_id)
    try:
        record = await store.decide_approval(task_id, call_id, approved=body.approve, reason=body.reason,
                                             decided_by=caller.name, unless_cancelled=True)
    except ConflictError:
        current = await store.get_approval(task_id, call_id)
        if current.status == "pending" or current.decided_by == "cancel":
            raise _lost_to_cancel(task_id) from None
        raise
    services.notifier.notify(("approval", task_id, call_id))
    return ApprovalView.of(record, task_links(agent, task_id).self)


def _lost_to_cancel(task_id: str) -> ApiError:
    """The answer to a decision that came after the task's cancel: the call never runs."""
    return ApiError(409, "task_cancelled", f"task {task_id} was cancelled; its pending calls are rejected "
                    "and none of them will run")
