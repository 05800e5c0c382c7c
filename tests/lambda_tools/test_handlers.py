"""Every Lambda handler: fake Lambda context, moto S3/SNS, the `{ok, data, error}` shape, malformed events."""

from __future__ import annotations

import importlib
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lambda_tools import envnames as env
from lambda_tools.catalog import CATALOG, get_tool
from lambda_tools.lambda_handler import handle
from lambda_tools.search_documents.ingest import ingest
from tests.lambda_tools.conftest import log_records


@pytest.fixture
def deployed(aws, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """The environment the stack gives the functions, with the corpus ingested into moto S3."""
    ingest(corpus_dir, bucket=aws.documents_bucket, prefix="documents/", s3_client=aws.s3)
    monkeypatch.setenv(env.DOCUMENTS_BUCKET, aws.documents_bucket)
    monkeypatch.setenv(env.DOCUMENTS_PREFIX, "documents/")
    monkeypatch.setenv(env.REPORTS_BUCKET, aws.reports_bucket)
    monkeypatch.setenv(env.REPORTS_TOPIC_ARN, aws.topic_arn)
    return aws


def invoke(tool: str, event: Any, context) -> dict[str, Any]:
    handler = importlib.import_module(f"lambda_tools.{tool}.handler").handler
    result = handler(event, context)
    json.dumps(result)  # the reply must be JSON as-is
    assert set(result) == {"ok", "data", "error"}
    return result


CASES = {
    "search_documents": ({"query": "run blocking code in a thread"},
                         lambda d: d["results"][0]["id"] == "asyncio/blocking"),
    "fetch_document": ({"document_id": "asyncio/tasks"}, lambda d: "create_task" in d["text"]),
    "summarize_document": ({"document_id": "asyncio/blocking", "max_length": 200},
                           lambda d: 0 < d["chars"] <= 200),
    "extract_entities": ({"text": "Tim Cook visited Paris on 2024-05-01."},
                         lambda d: {e["type"] for e in d["entities"]} == {"person", "location", "date"}),
    "classify_content": ({"text": "The oven bakes bread.", "categories": ["cooking", "finance"],
                          "descriptions": {"cooking": "oven bread bake recipe"}},
                         lambda d: d["best"] == "cooking"),
    "analyze_data": ({"document_id": "data/sales", "operations": [{"op": "group_by", "by": "region", "agg": "count"}]},
                     lambda d: d["results"][0]["groups"][0] == {"region": "north", "count": 2, "rows": 2}),
    "publish_report": ({"title": "Weekly", "markdown": "All good."},
                       lambda d: d["location"] == "s3://reports-bucket/reports/task-1/call-1.md"),
}


def test_every_catalog_tool_has_a_case() -> None:
    assert set(CASES) == {spec.name for spec in CATALOG}


@pytest.mark.parametrize("tool", list(CASES))
def test_handler_happy_path(tool: str, deployed, lambda_context) -> None:
    arguments, check = CASES[tool]
    result = invoke(tool, {"arguments": arguments, "task_id": "task-1", "call_id": "call-1"}, lambda_context)
    assert result["ok"] is True and result["error"] is None, result
    assert check(result["data"]), result["data"]
    required, optional = described_keys(get_tool(tool).output_description)
    assert required <= set(result["data"]) <= required | optional  # the catalog describes what comes back


def described_keys(description: str) -> tuple[set[str], set[str]]:
    """Top-level keys of an output description like "{rows, columns: [{name}], value?}": (required, optional)."""
    parts, depth, current = [], 0, ""
    for char in description.strip()[1:-1]:
        depth += 1 if char in "[{(" else -1 if char in "]})" else 0
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    keys = [part.split(":")[0].strip() for part in [*parts, current] if part.strip()]
    keys = [f"{k}?" if "|" in key else k for key in keys for k in key.split("|")]  # "id|url": one of them
    return {k for k in keys if not k.endswith("?")}, {k.rstrip("?") for k in keys if k.endswith("?")}


def test_publish_handler_is_idempotent_and_notifies(deployed, lambda_context) -> None:
    event = {"arguments": {"title": "Weekly", "markdown": "All good."}, "task_id": "t-5", "call_id": "c-5"}
    first = invoke("publish_report", event, lambda_context)["data"]
    second = invoke("publish_report", event, lambda_context)["data"]
    assert (first["already_published"], second["already_published"]) == (False, True)
    messages = deployed.sqs.receive_message(QueueUrl=deployed.queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1


def test_missing_call_id_falls_back_to_the_request_id(deployed, lambda_context) -> None:
    event = {"arguments": {"title": "T", "markdown": "x"}, "task_id": "t-6"}
    data = invoke("publish_report", event, lambda_context)["data"]
    assert data["key"] == "reports/t-6/req-0001.md"


@pytest.mark.parametrize("event, message", [
    ("just a string", "must be a JSON object"),
    ([1, 2], "must be a JSON object"),
    ({}, "needs 'arguments'"),
    ({"arguments": "query=x"}, "needs 'arguments'"),
    ({"query": "bare arguments"}, "unknown event keys ['query']"),
    ({"arguments": {"query": "x"}, "task_id": 5}, "task_id must be a non-empty string"),
    ({"arguments": {"query": "x"}, "call_id": "x" * 500}, "call_id must be a non-empty string"),
])
def test_malformed_events(event: Any, message: str, deployed, lambda_context) -> None:
    result = invoke("search_documents", event, lambda_context)
    assert result["ok"] is False and result["data"] is None
    assert result["error"]["type"] == "invalid_event" and message in result["error"]["message"]


@pytest.mark.parametrize("arguments, fragment", [
    ({"query": ""}, "query: String should have at least 1 character"),
    ({"query": "x", "limit": 0}, "limit: Input should be greater than or equal to 1"),
    ({"limit": 3}, "query: Field required"),
    ({"query": "x", "top_k": 3}, "top_k: Extra inputs are not permitted"),
])
def test_invalid_arguments_get_a_message_the_model_can_act_on(arguments, fragment, deployed, lambda_context) -> None:
    result = invoke("search_documents", {"arguments": arguments}, lambda_context)
    assert result["error"]["type"] == "invalid_arguments"
    assert result["error"]["message"].startswith("invalid arguments for search_documents: ")
    assert fragment in result["error"]["message"]


def test_tool_failures_keep_their_type(deployed, lambda_context) -> None:
    refused = invoke("fetch_document", {"arguments": {"url": "http://169.254.169.254/latest/"}}, lambda_context)
    assert refused["error"]["type"] == "refused" and "169.254.169.254" in refused["error"]["message"]
    missing = invoke("fetch_document", {"arguments": {"document_id": "nope"}}, lambda_context)
    assert missing["error"]["type"] == "not_found"


def test_a_crash_is_logged_but_never_returned_as_a_trace(deployed, log_stream: io.StringIO) -> None:
    def boom(args, ctx):
        raise RuntimeError("secret internal detail")

    spec = replace(get_tool("classify_content"), run=boom)
    result = handle(spec, {"arguments": {"text": "x", "categories": ["a"]}}, "req-9")
    assert result["error"]["type"] == "internal_error"
    assert "secret internal detail" not in json.dumps(result) and "Traceback" not in json.dumps(result)
    (record,) = [r for r in log_records(log_stream) if r["level"] == "ERROR"]
    assert record["message"] == "tool crashed" and "secret internal detail" in record["exception"]


def test_logs_are_structured_json_with_lambda_context(deployed, lambda_context, log_stream) -> None:
    invoke("classify_content", {"arguments": {"text": "bread", "categories": ["cooking"]}, "task_id": "t-1",
                                "call_id": "c-1"}, lambda_context)
    done = [r for r in log_records(log_stream) if r.get("message") == "tool ok"]
    assert done and done[0]["tool"] == "classify_content" and done[0]["task_id"] == "t-1"
    assert done[0]["function_request_id"] == "req-0001" and "duration_ms" in done[0]


def test_without_buckets_the_tools_say_what_is_missing(lambda_context) -> None:
    result = invoke("search_documents", {"arguments": {"query": "x"}}, lambda_context)
    assert result["error"]["message"] == "no document corpus is configured for search_documents"
