"""The task API (FastAPI + SSE); `create_app` builds it over a store, a queue and agents."""

from agent_runtime.api.app import create_app

__all__ = ["create_app"]
