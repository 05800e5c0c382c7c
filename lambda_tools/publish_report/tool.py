"""publish_report: stores a Markdown report and notifies subscribers, once per call (idempotent)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from lambda_tools.backends import report_key
from lambda_tools.common import ToolFailure
from lambda_tools.schema import ToolInput
from lambda_tools.spec import ToolContext

DESCRIPTION = (
    "Publishes a Markdown report: stores it in the reports store and notifies subscribers. "
    "Needs human approval. Publishing is idempotent per call: a retried call returns the same location with "
    "already_published=true. Returns where the report was stored."
)
OUTPUT = "{location, key, title, audience, bytes, already_published, notified}"


class PublishReportInput(ToolInput):
    title: str = Field(min_length=1, max_length=200, description="The report's title.")
    markdown: str = Field(min_length=1, max_length=500_000, description="The report body in Markdown.")
    audience: str | None = Field(None, max_length=200, description="Who the report is for (e.g. 'engineering').")


def run(args: PublishReportInput, ctx: ToolContext) -> dict[str, Any]:
    """Store the report under a key derived from (task id, call id); a retry finds it and does not republish."""
    if ctx.reports is None:
        raise ToolFailure("no reports store is configured for publish_report")
    body = args.markdown if args.markdown.lstrip().startswith("# ") else f"# {args.title}\n\n{args.markdown}"
    if args.audience:
        body = f"<!-- audience: {args.audience.replace('--', '- -')} -->\n{body}"
    body = body if body.endswith("\n") else body + "\n"
    published = ctx.reports.publish(report_key(ctx.task_id, ctx.call_id), body, title=args.title,
                                    audience=args.audience)
    return {
        "location": published.location,
        "key": published.key,
        "title": args.title,
        "audience": args.audience,
        "bytes": len(body.encode("utf-8")),
        "already_published": published.already_published,
        "notified": published.notified,
    }
