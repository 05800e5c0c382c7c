"""The task API (FastAPI + SSE); `create_app` builds it over the services in an `ApiServices`."""

from agent_runtime.api.app import create_app
from agent_runtime.api.deps import ApiServices

__all__ = ["ApiServices", "create_app"]
