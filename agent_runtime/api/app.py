"""The task API's app: submit, read, stream (SSE), approve, cancel; agents and health.

`create_app` only assembles: the routers (`routes/`), the gate (authentication and rate limit from
the headers, `gate.py`) in front of the body's size and time bounds (`body_limit.py`), the error
handlers (`errors.py`), over the services the routes ask for (`deps.ApiServices`). What runs
beside the API (the worker) is the platform's business (`agent_runtime.server`), handed in
as a `lifespan`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI

from agent_runtime import __version__
from agent_runtime.api import console, links
from agent_runtime.api.body_limit import DEFAULT_BODY_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES, BodyLimit
from agent_runtime.api.deps import ApiServices
from agent_runtime.api.errors import add_error_handlers
from agent_runtime.api.gate import Gate
from agent_runtime.api.routes import api_router

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    services: ApiServices, *, lifespan: Lifespan | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    docs: bool = True, body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
) -> FastAPI:
    """The FastAPI app over `services`; `lifespan` starts and stops whatever runs beside it.

    `docs=False` removes /docs, /redoc and /openapi.json (they need no key; deployed services turn them off).
    """
    app = FastAPI(
        title="Agent platform task API",
        version=__version__,
        description="Submit tasks to the research, content and analysis agents, follow them live (SSE), "
                    "approve sensitive tool calls, cancel, and read results and costs.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        generate_unique_id_function=links.operation_id,
    )
    app.state.services = services
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout_s=body_timeout_s)
    app.add_middleware(Gate, keys=services.keys, limiter=services.limiter)  # added last: runs first
    add_error_handlers(app)
    app.include_router(api_router)
    app.include_router(console.router)  # the web console's static files at /console (no key to load)
    _complete_document(app, services.agent_names)
    return app


def _complete_document(app: FastAPI, names: list[str]) -> None:
    """Add to the generated OpenAPI document what the routes cannot declare: the served agents, as the
    enum of the `agent` path parameter, and the links between operations (`links.add_links`).

    The routes are declared before any app knows its agents, so the enum is added to the
    generated document (FastAPI generates it once and caches it) rather than to the annotation.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            links.add_links(generate())
            for operations in generate()["paths"].values():
                for operation in operations.values():
                    for param in operation.get("parameters", []):
                        if param["in"] == "path" and param["name"] == "agent":
                            param["schema"]["enum"] = list(names)
        return generate()

    app.openapi = openapi  # type: ignore[method-assign]
