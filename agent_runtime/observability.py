"""Structured logs and task metrics.

Logs are JSON lines (one object per record, with task id and step when known) in
containers; metrics are written as CloudWatch Embedded Metric Format records in
the same log stream, so CloudWatch extracts them with no API call on the hot path.
The dashboard in `stacks/` reads the namespace and names defined here.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from agent_runtime.redact import RedactingFilter

METRICS_NAMESPACE = "AgentPlatform"
METRIC_DIMENSION = "Agent"
STATE_METRICS = {"succeeded": "TasksSucceeded", "failed": "TasksFailed", "cancelled": "TasksCancelled"}

# color_message: uvicorn's copy of its message with terminal colour codes, noise in a JSON line.
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}
# The loggers that get the platform's handler: its own, and uvicorn's (startup, errors, access lines), so
# that every line a server writes to stderr has the same shape.
_LOGGERS = ("agent_runtime", "uvicorn")


class JsonFormatter(logging.Formatter):
    """One JSON object per record; extra fields (task_id, step, ...) are kept as keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info or record.exc_text:
            # exc_text first: `RedactingFilter` leaves the redacted traceback there
            out["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO", *, json_logs: bool = True) -> None:
    """Route the platform's and uvicorn's logs to stderr, as JSON in containers, plain text in a terminal.

    uvicorn must then run with `log_config=None`, or it replaces these handlers with its own.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())  # no secret reaches a log line, whichever logger wrote it
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    for name in ("uvicorn.error", "uvicorn.access"):  # up to "uvicorn"'s handler, none of their own
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def task_metrics_record(
    *, agent: str, status: str, steps: int, tokens: int, cost_usd: float, duration_ms: float
) -> dict[str, Any]:
    """An Embedded Metric Format record for one finished task."""
    state_metric = STATE_METRICS.get(status)
    if state_metric is None:
        raise ValueError(f"unknown task status {status!r}")
    metrics = [
        {"Name": state_metric, "Unit": "Count"},
        {"Name": "Steps", "Unit": "Count"},
        {"Name": "Tokens", "Unit": "Count"},
        {"Name": "CostUsd", "Unit": "None"},
        {"Name": "TaskDuration", "Unit": "Milliseconds"},
    ]
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {"Namespace": METRICS_NAMESPACE, "Dimensions": [[METRIC_DIMENSION]], "Metrics": metrics}
            ],
        },
        METRIC_DIMENSION: agent,
        state_metric: 1,
        "Steps": steps,
        "Tokens": tokens,
        "CostUsd": cost_usd,
        "TaskDuration": duration_ms,
    }


def emit_task_metrics(stream: Any = None, **fields: Any) -> None:
    """Write one EMF record as a line (to stdout by default, where the awslogs driver reads it)."""
    out = stream or sys.stdout
    out.write(json.dumps(task_metrics_record(**fields)) + "\n")
    out.flush()
