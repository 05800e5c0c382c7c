"""Logs are JSON with task context; task metrics are valid Embedded Metric Format."""

from __future__ import annotations

import io
import json
import logging

import pytest

from agent_runtime.observability import JsonFormatter, emit_task_metrics


def test_json_log_line_keeps_task_context() -> None:
    record = logging.LogRecord("agent_runtime.worker", logging.INFO, __file__, 1, "step %d done", (3,), None)
    record.task_id = "t-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "step 3 done" and line["task_id"] == "t-1" and line["level"] == "INFO"


def test_task_metrics_are_embedded_metric_format() -> None:
    buf = io.StringIO()
    emit_task_metrics(buf, agent="research", status="failed", steps=4, tokens=900, cost_usd=0.01, duration_ms=12.5)
    record = json.loads(buf.getvalue())
    directive = record["_aws"]["CloudWatchMetrics"][0]
    names = {m["Name"] for m in directive["Metrics"]}
    assert directive["Namespace"] == "AgentPlatform" and directive["Dimensions"] == [["Agent"]]
    assert all(name in record for name in names)  # every declared metric has a value
    assert record["TasksFailed"] == 1 and record["Agent"] == "research"


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown task status"):
        emit_task_metrics(io.StringIO(), agent="a", status="weird", steps=0, tokens=0, cost_usd=0, duration_ms=0)
