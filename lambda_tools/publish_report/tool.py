"""publish_report: stores a Markdown report and notifies subscribers, once per call (idempotent)."""

from __future__ import annotations

import re
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


# Line breaks of every kind (Markdown and browsers honour more than \n) and other control characters.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Characters that open Markdown or HTML structure inside a heading line: HTML and comments (`<`, `>`), links and
# images (`[`, `]`), code, emphasis, and `#` (a closing `#` sequence eats the end of the title).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def heading_text(title: str) -> str:
    """`title` as the text of one `# ` heading line: one line, every Markdown/HTML special character escaped,
    so a title cannot add headings, comments, HTML or links to the stored report."""
    one_line = " ".join(_BREAKS.sub(" ", title).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line) or "Report"


def comment_text(text: str) -> str:
    """`text` made safe inside one `<!-- ... -->` line: one line, and no `--` (which could end the comment)."""
    one_line = " ".join(_BREAKS.sub(" ", text).split())
    return re.sub(r"-{2,}", "-", one_line).replace(">", "&gt;")


def run(args: PublishReportInput, ctx: ToolContext) -> dict[str, Any]:
    """Store the report under a key derived from (task id, call id); a retry finds it and does not republish."""
    if ctx.reports is None:
        raise ToolFailure("no reports store is configured for publish_report")
    body = args.markdown
    if not body.lstrip().startswith("# "):
        body = f"# {heading_text(args.title)}\n\n{body}"
    if args.audience:
        body = f"<!-- audience: {comment_text(args.audience)} -->\n{body}"
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

