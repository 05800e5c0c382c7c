"""Liveness for the load balancer."""

from fastapi import APIRouter

from agent_runtime.api.deps import Services
from agent_runtime.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz(services: Services) -> Health:
    """Liveness for the load balancer; no authentication."""
    return Health(status="ok", agents=services.agent_names)
