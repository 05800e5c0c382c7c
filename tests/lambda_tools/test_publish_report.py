"""publish_report: idempotent per (task, call), in a folder and in S3 with an SNS notification."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

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


def test_long_ids_sharing_a_prefix_get_distinct_keys_and_the_same_id_the_same_key(tmp_path: Path) -> None:
    prefix = "call-" + "x" * 190
    first, second = prefix + "A", prefix + "B"
    assert report_key("task-1", first) != report_key("task-1", second)
    assert report_key("task-1", first) == report_key("task-1", first)
    assert report_key("t" * 199 + "1", "c") != report_key("t" * 199 + "2", "c")
    sink = FolderReports(tmp_path)
    one = run(REPORT, ToolContext(task_id="task-1", call_id=first, reports=sink))
    two = run(REPORT, ToolContext(task_id="task-1", call_id=second, reports=sink))
    again = run(REPORT, ToolContext(task_id="task-1", call_id=first, reports=sink))
    assert (one["already_published"], two["already_published"], again["already_published"]) == (False, False, True)
    assert again["location"] == one["location"] != two["location"]
    assert all(len(part) <= 120 for part in Path(one["key"]).parts)


def test_an_id_cannot_pose_as_another_ids_hashed_key() -> None:
    hashed = report_key("task-1", "call/1").split("/")[1].removesuffix(".md")
    assert report_key("task-1", hashed) != report_key("task-1", "call/1")


def _rendered(markdown: str) -> list[tuple[str, str]]:
    """(token type, text) of the report as a CommonMark renderer (with raw HTML on) sees it, inline tokens
    flattened: what a reader of the published report would get."""
    flat: list[tuple[str, str]] = []
    for token in MarkdownIt("commonmark").parse(markdown):
        flat.append((token.type, token.content))
        flat.extend((child.type, child.content) for child in token.children or [])
    return flat


@pytest.mark.parametrize("title", [
    "Q3\n# Injected heading",
    "Q3\r\n\r\n<!-- hidden -->",
    "# Q3 ##",
    "Q3 <!-- the rest of the report is hidden",
    "Q3\u2028## Injected",
    "Q3 [click](http://evil.example) <script>alert(1)</script> *bold* `code`",
])
def test_the_title_cannot_add_markdown_structure(tmp_path: Path, title: str) -> None:
    report = PublishReportInput(title=title, markdown="Body line.")
    result = run(report, ToolContext(task_id="t", call_id="c", reports=FolderReports(tmp_path)))
    tokens = _rendered(Path(result["location"]).read_text())
    kinds = [kind for kind, _ in tokens]
    assert kinds.count("heading_open") == 1 and kinds.count("paragraph_open") == 1  # the title, the body
    assert not {"html_inline", "html_block", "link_open", "em_open", "strong_open", "code_inline"} & set(kinds)
    heading = tokens[kinds.index("heading_open") : kinds.index("heading_close")]
    heading_text = "".join(text for kind, text in heading if kind == "text")
    assert heading_text == " ".join(title.split())  # shown as given, on one line
    assert result["title"] == title  # the caller still gets the title as given


def test_the_audience_cannot_close_its_comment(tmp_path: Path) -> None:
    report = PublishReportInput(title="Q3", markdown="Body.", audience="team --->\n# Injected --!> x")
    result = run(report, ToolContext(task_id="t", call_id="c", reports=FolderReports(tmp_path)))
    first, *rest = Path(result["location"]).read_text().splitlines()
    assert first.startswith("<!-- audience: team") and first.endswith(" -->") and first.count("--") == 2
    assert rest == ["# Q3", "", "Body."]
