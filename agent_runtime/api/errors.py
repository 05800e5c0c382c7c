"""How the task API fails: one error body, one status -> code table, one exception -> status table.

Every response that is not a success is `{"error": {"code", "message"}}` (plus `details` for a
validation error) with the status that fits.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_runtime.api.schemas import ErrorBody
from agent_runtime.errors import AgentPlatformError, ConflictError, NotFoundError, StoreError

log = logging.getLogger(__name__)

STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    408: "request_timeout", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "validation_error", 429: "too_many_requests", 500: "internal_error", 503: "unavailable",
}

# The status of a platform exception that reaches the API, by the nearest class in its MRO.
EXCEPTION_STATUS: dict[type[AgentPlatformError], int] = {
    NotFoundError: 404, ConflictError: 409, StoreError: 503, AgentPlatformError: 500,
}

# Server faults do not show their message to the caller; caller faults do.
SERVER_FAULT_MESSAGES = {503: "the task store is unavailable; retry later", 500: "internal error"}

_DESCRIPTIONS = {400: "malformed request framing (e.g. an invalid Content-Length)",
                 401: "missing or invalid API key", 403: "the key's principal may not do this",
                 404: "unknown agent, task or approval", 408: "the body did not arrive in time",
                 409: "conflicting state", 413: "request body too large", 422: "invalid request",
                 429: "too many requests or open streams, or the day's stored-bytes quota spent (Retry-After)", 503: "store or queue unavailable"}


class ApiError(Exception):
    """An error response with a stable code."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
                   details: list[dict[str, Any]] | None = None) -> JSONResponse:
    """The one error body: `{"error": {"code", "message"[, "details"]}}`."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=dict(headers or {}))


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entry documenting a route's error statuses."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS.get(s, "error")} for s in statuses}


def _where(loc: Sequence[str]) -> str:
    """'body.limits.max_steps' -> 'limits.max_steps'; 'header.Idempotency-Key' stays as is."""
    if len(loc) > 1 and loc[0] == "body":
        return ".".join(loc[1:])
    return ".".join(loc) or "request"


def validation_response(errors: Sequence[Any]) -> JSONResponse:
    """A 422 for pydantic errors: a summary of the first five as the message, the first twenty as details."""
    details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in errors]
    summary = "; ".join(f"{_where(d['loc'])}: {d['msg']}" for d in details[:5])
    return error_response(422, "validation_error", summary or "invalid request", details=details[:20])


HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def _allowed_methods(request: Request) -> str | None:
    """Every documented method of the request's path. Starlette's 405 names only the first matching
    route's, and a path may have several routes (`GET` lists an agent's tasks, `POST` submits one)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)), request.url.path):
            methods |= {m.upper() for m in operations if m in HTTP_METHODS}
    return ", ".join(sorted(methods)) if methods else None


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # e.g. not UTF-8
        return error_response(422, "validation_error", "the request body is not valid JSON")
    headers = exc.headers
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        headers = {**(headers or {}), "Allow": allowed}
    return error_response(exc.status_code, STATUS_CODES.get(exc.status_code, "error"), str(exc.detail), headers)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    return validation_response(exc.errors())


async def _platform_error(_: Request, exc: AgentPlatformError) -> JSONResponse:
    status = next(EXCEPTION_STATUS[c] for c in type(exc).__mro__ if c in EXCEPTION_STATUS)
    if status not in SERVER_FAULT_MESSAGES:
        return error_response(status, STATUS_CODES[status], str(exc))
    log.warning("request failed: %s", exc)
    return error_response(status, STATUS_CODES[status], SERVER_FAULT_MESSAGES[status])


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error in request")
    return error_response(500, "internal_error", "internal error")


def add_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the error body."""
    app.exception_handler(ApiError)(_api_error)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(RequestValidationError)(_validation_error)
    for exc_class in EXCEPTION_STATUS:
        app.exception_handler(exc_class)(_platform_error)
    app.exception_handler(Exception)(_unexpected)
