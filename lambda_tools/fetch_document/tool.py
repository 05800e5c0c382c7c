"""fetch_document: a corpus document's text by id, or a web page by URL (SSRF-safe)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from lambda_tools.backends import title_of
from lambda_tools.common import ToolFailure
from lambda_tools.fetch_document.html_text import html_to_text
from lambda_tools.fetch_document.web import fetch_url, system_resolver
from lambda_tools.schema import DOC_ID_DESCRIPTION, DOC_ID_PATTERN, ToolInput
from lambda_tools.spec import ToolContext

DESCRIPTION = (
    "Returns the text of one document: either a corpus document by `document_id` (from search_documents) "
    "or a public web page by `url` (http/https; HTML is reduced to readable text). Give exactly one of them. "
    "Long texts are cut at `max_chars` and marked truncated."
)
OUTPUT = "{source: 'corpus'|'web', id|url, title, text, chars, truncated}"


class FetchDocumentInput(ToolInput):
    document_id: str | None = Field(None, max_length=300, pattern=DOC_ID_PATTERN, description=DOC_ID_DESCRIPTION)
    url: str | None = Field(None, max_length=2048, description="An http(s) URL of a public web page.")
    max_chars: int = Field(20_000, ge=100, le=200_000, description="Maximum number of characters of text returned.")

    @model_validator(mode="after")
    def _exactly_one_source(self) -> FetchDocumentInput:
        if (self.document_id is None) == (self.url is None):
            raise ValueError("give exactly one of document_id or url")
        return self


def run(args: FetchDocumentInput, ctx: ToolContext) -> dict[str, Any]:
    """The corpus document's text, or the web page reduced to text, cut at `max_chars`.

    `ctx.extras` may carry `resolver` (host, port -> addresses) and `fetch_allow_hosts` (exempt hosts).
    """
    if args.document_id is not None:
        if ctx.documents is None:
            raise ToolFailure("no document corpus is configured; fetch a URL instead")
        doc = ctx.documents.get(args.document_id)
        return _result({"source": "corpus", "id": doc.id, "title": doc.title}, doc.text, args.max_chars)
    assert args.url is not None
    page = fetch_url(
        args.url,
        resolver=ctx.extras.get("resolver") or system_resolver,
        allow_hosts=ctx.extras.get("fetch_allow_hosts") or (),
    )
    title = ""
    text = page.body
    if page.content_type in ("text/html", "application/xhtml+xml"):
        title, text = html_to_text(page.body)
    head = {"source": "web", "url": page.url, "title": title or title_of(text, page.url)}
    result = _result(head, text, args.max_chars)
    result["truncated"] = result["truncated"] or page.truncated
    return result


def _result(head: dict[str, Any], text: str, max_chars: int) -> dict[str, Any]:
    truncated = len(text) > max_chars
    if truncated:
        cut = text.rfind(" ", 0, max_chars)
        text = text[: cut if cut > max_chars * 0.8 else max_chars]
    return {**head, "text": text, "chars": len(text), "truncated": truncated}
