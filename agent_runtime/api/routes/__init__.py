"""The task API's routes, one router per resource, gathered in the order the OpenAPI document lists them."""

from fastapi import APIRouter

from agent_runtime.api.routes import agents, approvals, events, health, task_list, tasks

api_router = APIRouter()
for _module in (health, agents, tasks, task_list, events, approvals):
    api_router.include_router(_module.router)

__all__ = ["api_router"]
