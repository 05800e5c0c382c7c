"""What every tool's Lambda handler does: validate the event, call the pure function, return `{ok, data, error}`.

Event (the one shape `LambdaTool` sends):
    {"arguments": {...tool input...}, "task_id": "t-123", "call_id": "call-1", "trace_context": {...}}
`task_id` and `call_id` are optional strings (they form publish_report's idempotency key; the
Lambda request id stands in for a missing call_id); `trace_context` (optional, W3C `traceparent` and
`tracestate`) joins the invocation to the caller's trace (`lambda_tools.tracing`). Bad input returns `ok: false` with a message
the model can act on; an unexpected crash is logged and returns `internal_error`, never a trace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from lambda_tools import envnames as env
from lambda_tools import tracing
from lambda_tools.backends import DocumentSource, ReportSink, S3Documents, S3Reports
from lambda_tools.catalog import get_tool
from lambda_tools.common import ToolFailure, fail, ok
from lambda_tools.schema import describe_validation_error
from lambda_tools.settings import ToolSettings
from lambda_tools.spec import ToolContext, ToolSpec

# JSON logs; the stack sets POWERTOOLS_SERVICE_NAME to the tool's name and LOG_LEVEL (read by Powertools).
logger = Logger(service=os.environ.get(env.POWERTOOLS_SERVICE_NAME) or "agent-platform-tools")

_EVENT_KEYS = frozenset({"arguments", "task_id", "call_id", tracing.TRACE_KEY})
_MAX_ID = 200

# Created on first use and kept for the life of the execution environment (warm invocations reuse them).
_settings: ToolSettings | None = None
_clients: dict[str, Any] = {}
_backends: dict[str, Any] = {}


def settings() -> ToolSettings:
    global _settings
    if _settings is None:
        _settings = ToolSettings.from_env()
    return _settings


def client(service: str) -> Any:
    """A boto3 client, created once per execution environment."""
    if service not in _clients:
        import boto3

        _clients[service] = boto3.client(service)
    return _clients[service]


def documents() -> DocumentSource | None:
    """The S3 corpus, or None when DOCUMENTS_BUCKET is not set."""
    if "documents" not in _backends:
        s = settings()
        _backends["documents"] = (
            S3Documents(bucket=s.documents_bucket, prefix=s.documents_prefix, index_key=s.index_key,
                        client=client("s3"))
            if s.documents_bucket else None
        )
    return _backends["documents"]


def reports() -> ReportSink | None:
    """The S3 (+SNS) reports store, or None when REPORTS_BUCKET is not set."""
    if "reports" not in _backends:
        s = settings()
        _backends["reports"] = (
            S3Reports(bucket=s.reports_bucket, prefix=s.reports_prefix, s3_client=client("s3"),
                      topic_arn=s.reports_topic_arn, sns_client=client("sns") if s.reports_topic_arn else None)
            if s.reports_bucket else None
        )
    return _backends["reports"]


def reset() -> None:
    """Forget settings, clients and backends (tests change the environment between cases)."""
    global _settings
    _settings = None
    _clients.clear()
    _backends.clear()
    tracing.reset()


def _parse_event(event: Any) -> tuple[dict[str, Any], str, str | None] | dict[str, Any]:
    if not isinstance(event, dict):
        return fail("invalid_event", f"the event must be a JSON object, not {type(event).__name__}")
    unknown = sorted(set(event) - _EVENT_KEYS)
    if unknown:
        return fail("invalid_event", f"unknown event keys {unknown}; expected {{arguments, task_id, call_id, trace_context}}")
    arguments = event.get("arguments")
    if not isinstance(arguments, dict):
        return fail("invalid_event", "the event needs 'arguments': a JSON object with the tool's input")
    ids = []
    for key in ("task_id", "call_id"):
        value = event.get(key)
        if value is not None and (not isinstance(value, str) or not value or len(value) > _MAX_ID):
            return fail("invalid_event", f"{key} must be a non-empty string of at most {_MAX_ID} characters")
        ids.append(value)
    return arguments, ids[0] or "lambda", ids[1]


def handle(spec: ToolSpec, event: Any, request_id: str = "") -> dict[str, Any]:
    """Validate `event`, run the tool, and return the stable result shape."""
    parsed = _parse_event(event)
    if isinstance(parsed, dict):
        logger.warning("invalid event", extra={"tool": spec.name, "error": parsed["error"]["message"]})
        return parsed
    arguments, task_id, call_id = parsed
    call_id = call_id or request_id or "call-0"
    logger.append_keys(tool=spec.name, task_id=task_id, call_id=call_id)
    try:
        args = spec.input_model.model_validate(arguments)
    except ValidationError as exc:
        message = f"invalid arguments for {spec.name}: {describe_validation_error(exc)}"
        logger.info("invalid arguments", extra={"error": message})
        return fail("invalid_arguments", message)
    s = settings()
    ctx = ToolContext(task_id=task_id, call_id=call_id, documents=documents(), reports=reports(),
                      extras={"fetch_allow_hosts": s.fetch_allow_hosts})
    started = time.perf_counter()
    try:
        data = spec.run(args, ctx)
    except ToolFailure as exc:
        logger.info("tool failed", extra={"error_type": exc.kind, "error": exc.message,
                                          "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
        return fail(exc.kind, exc.message)
    except Exception:
        logger.exception("tool crashed")
        return fail("internal_error", f"{spec.name} failed unexpectedly (request {request_id or 'local'}); "
                                      "the error was logged")
    logger.info("tool ok", extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)})
    return ok(data)


def make_handler(tool_name: str) -> Callable[[Any, Any], dict[str, Any]]:
    """The Lambda handler for one catalog tool."""
    spec = get_tool(tool_name)

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: Any, context: Any) -> dict[str, Any]:
        request_id = getattr(context, "aws_request_id", "")
        carrier = tracing.carrier_of(event)
        if carrier is None:
            return handle(spec, event, request_id)
        logger.append_keys(**tracing.log_keys(carrier))
        with tracing.invocation_span(spec.name, carrier, call_id=event.get("call_id"), request_id=request_id) as record:
            result = handle(spec, event, request_id)
            record(result)
        return result

    handler.__doc__ = f"Lambda entry point of {tool_name}: {{arguments, task_id?, call_id?}} -> {{ok, data, error}}."
    return handler
