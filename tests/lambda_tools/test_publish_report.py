"""publish_report: idempotent per (task, call), in a folder and in S3 with an SNS notification."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from lambda_tools.backends import FolderReports, S3Reports, report_key
from lambda_tools.common import ToolFailure
from lambda_tools.publish_report.tool import PublishReportInput, run
from lambda_tools.spec import ToolContext

REPORT = PublishReportInput(title="Q3 findings", markdown="Revenue grew **12%**.", audience="leadership")


def test_folder_publish_is_idempotent(tmp_path: Path) -> None:
    ctx = ToolContext(task_id="task-9", call_id="call-2", reports=FolderReports(tmp_path))
    first = run(REPORT, ctx)
    second = run(REPORT, ctx)
    assert first["already_published"] is False and second["already_published"] is True
    assert first["location"] == second["location"] == str(tmp_path / "task-9" / "call-2.md")
    body = Path(first["location"]).read_text()
    assert "# Q3 findings" in body and "Revenue grew **12%**." in body
    assert len(list(tmp_path.rglob("*.md"))) == 1


def test_a_different_call_publishes_again(tmp_path: Path) -> None:
    ctx = ToolContext(task_id="task-9", call_id="call-2", reports=FolderReports(tmp_path))
    run(REPORT, ctx)
    other = run(REPORT, replace(ctx, call_id="call-3"))
    assert other["already_published"] is False and len(list(tmp_path.rglob("*.md"))) == 2


def test_keys_are_safe_and_distinct() -> None:
    assert report_key("t/../../etc", "c1") != report_key("t_.._.._etc", "c1")
    assert ".." not in report_key("../..", "../x").split("/")


def test_s3_publish_is_idempotent_and_notifies_once(aws) -> None:
    sink = S3Reports(bucket=aws.reports_bucket, s3_client=aws.s3, topic_arn=aws.topic_arn, sns_client=aws.sns)
    ctx = ToolContext(task_id="task-1", call_id="call-7", reports=sink)
    first = run(REPORT, ctx)
    second = run(REPORT, ctx)
    assert first["location"] == second["location"] == "s3://reports-bucket/reports/task-1/call-7.md"
    assert (first["already_published"], first["notified"]) == (False, True)
    assert (second["already_published"], second["notified"]) == (True, False)
    stored = aws.s3.get_object(Bucket=aws.reports_bucket, Key="reports/task-1/call-7.md")
    assert b"Revenue grew" in stored["Body"].read() and stored["ContentType"].startswith("text/markdown")
    messages = aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    event = json.loads(messages[0]["Body"])
    assert event["location"] == first["location"] and event["title"] == "Q3 findings"


def test_without_a_store_the_error_says_so() -> None:
    with pytest.raises(ToolFailure, match="no reports store"):
        run(REPORT, ToolContext())


def test_s3_conditional_put_guards_a_race_or_a_403_head(aws, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = S3Reports(bucket=aws.reports_bucket, s3_client=aws.s3)
    monkeypatch.setattr(sink, "_exists", lambda key: False)  # e.g. HEAD answered 403 without s3:ListBucket
    ctx = ToolContext(task_id="t", call_id="c", reports=sink)
    assert run(REPORT, ctx)["already_published"] is False
    again = run(REPORT.model_copy(update={"markdown": "A different body"}), ctx)
    assert again["already_published"] is True
    body = aws.s3.get_object(Bucket=aws.reports_bucket, Key="reports/t/c.md")["Body"].read()
    assert b"Revenue grew" in body
