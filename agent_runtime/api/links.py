"""The OpenAPI document's operation ids and links: how a client (or a fuzzer's stateful phase) goes from
a submitted task to reading it, its events, its approvals, deciding one and cancelling it, with the ids
each response holds (`$response.body#/task_id`), not URLs it builds itself."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from fastapi.utils import generate_unique_id

# Stable operation ids: generated clients name their methods after them, links name their targets by them.
HEALTHZ = "healthz"
LIST_AGENTS = "listAgents"
LIST_TASKS = "listTasks"
SUBMIT_TASK = "submitTask"
GET_TASK = "getTask"
CANCEL_TASK = "cancelTask"
TASK_EVENTS = "getTaskEvents"
LIST_APPROVALS = "listApprovals"
DECIDE_APPROVAL = "decideApproval"
# By the route's function: a route without an id here fails the app's build (every route needs one).
OPERATION_IDS = {
    "healthz": HEALTHZ, "list_agents": LIST_AGENTS, "list_tasks": LIST_TASKS, "submit_task": SUBMIT_TASK,
    "get_task": GET_TASK, "cancel_task": CANCEL_TASK, "task_events": TASK_EVENTS,
    "list_approvals": LIST_APPROVALS, "decide_approval": DECIDE_APPROVAL,
}


def operation_id(route: APIRoute) -> str:
    """The route's stable operation id (FastAPI's `generate_unique_id_function`); FastAPI's own for the
    routes the document does not show (the console's files)."""
    if not route.include_in_schema:
        return generate_unique_id(route)
    try:
        return OPERATION_IDS[route.name]
    except KeyError:
        raise LookupError(f"route {route.name!r} has no operation id: add it to api.links.OPERATION_IDS") from None

# The task a response names: its body's `agent` and `task_id` (a submit's 202, a task, a summary).
_TASK_IN_BODY = {"agent": "$response.body#/agent", "task_id": "$response.body#/task_id"}
# The task a request named in its path (a list of its approvals).
_TASK_IN_PATH = {"agent": "$request.path.agent", "task_id": "$request.path.task_id"}


def _link(operation_id: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters, "description": description}


def _task_links(task: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        "GetTask": _link(GET_TASK, "the task: state, result, pending approvals", task),
        "GetTaskEvents": _link(TASK_EVENTS, "the task's events (SSE, or a JSON page with ?format=json)", task),
        "ListApprovals": _link(LIST_APPROVALS, "the task's approvals (sensitive calls waiting for a human)", task),
        "CancelTask": _link(CANCEL_TASK, "cancel the task", task),
    }


def task_links() -> dict[str, dict[str, Any]]:
    """Links of a response whose body names a task (`agent`, `task_id`): a submit's 202, a cancel's 202."""
    return _task_links(_TASK_IN_BODY)


def task_view_links() -> dict[str, dict[str, Any]]:
    """Links of a task (`GET`): those of any task, and deciding its first pending approval."""
    return {**_task_links(_TASK_IN_BODY), "DecideFirstPendingApproval": _link(
        DECIDE_APPROVAL, "decide the first of the task's pending approvals",
        {**_TASK_IN_BODY, "call_id": "$response.body#/pending_approvals/0/call_id"},
    )}


def approval_list_links() -> dict[str, dict[str, Any]]:
    """Links of a task's approvals: deciding the first one listed, reading or cancelling the task."""
    return {
        "DecideFirstApproval": _link(DECIDE_APPROVAL, "decide the first approval listed",
                                     {**_TASK_IN_PATH, "call_id": "$response.body#/approvals/0/call_id"}),
        "GetTask": _link(GET_TASK, "the task the approvals belong to", _TASK_IN_PATH),
        "CancelTask": _link(CANCEL_TASK, "cancel the task (its pending calls are rejected)", _TASK_IN_PATH),
    }


def decided_links() -> dict[str, dict[str, Any]]:
    """Links of a decided approval: back to its task, its events, its approvals."""
    return {
        "GetTask": _link(GET_TASK, "the task, now going on (or not) with the call", _TASK_IN_PATH),
        "GetTaskEvents": _link(TASK_EVENTS, "the task's events, approval.resolved among them", _TASK_IN_PATH),
        "ListApprovals": _link(LIST_APPROVALS, "the task's approvals", _TASK_IN_PATH),
    }


def _links_by_response() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    return {
        (SUBMIT_TASK, "202"): task_links(),
        (CANCEL_TASK, "202"): task_links(),
        (GET_TASK, "200"): task_view_links(),
        (LIST_APPROVALS, "200"): approval_list_links(),
        (DECIDE_APPROVAL, "200"): decided_links(),
    }


def add_links(document: dict[str, Any]) -> None:
    """Add the links to the responses of a generated OpenAPI document, by operation id and status."""
    by_response = _links_by_response()
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                found = by_response.get((operation.get("operationId", ""), status))
                if found:
                    response["links"] = found
