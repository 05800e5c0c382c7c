"""search_documents: BM25 ranking over the document corpus."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from lambda_tools.common import ToolFailure
from lambda_tools.schema import ToolInput
from lambda_tools.search_documents.index import get_index
from lambda_tools.spec import ToolContext
from lambda_tools.text import tokenize

DESCRIPTION = (
    "Full-text search over the document corpus, ranked by relevance (BM25). Returns up to `limit` hits, "
    "each with the document id, its title, a relevance score and a snippet around the best match. "
    "Use specific keywords; read a hit in full with fetch_document(document_id=...)."
)
OUTPUT = "{query, total_documents, results: [{id, title, score, snippet}]}"

FILTER_KEYS = ("id_prefix", "title_contains")


class SearchDocumentsInput(ToolInput):
    query: str = Field(min_length=1, max_length=500, description="Keywords or a question to search for.")
    limit: int = Field(5, ge=1, le=50, description="Maximum number of results.")
    filters: dict[str, str] | None = Field(
        None,
        description=(
            "Optional filters: 'id_prefix' keeps documents whose id starts with it (a folder, e.g. 'guides/'); "
            "'title_contains' keeps documents whose title contains it (case-insensitive)."
        ),
    )

    @field_validator("filters")
    @classmethod
    def _known_filters(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value:
            unknown = sorted(set(value) - set(FILTER_KEYS))
            if unknown:
                raise ValueError(f"unknown filter(s) {unknown}; allowed: {list(FILTER_KEYS)}")
        return value or None


def run(args: SearchDocumentsInput, ctx: ToolContext) -> dict[str, Any]:
    """Rank the corpus for `args.query` with BM25; the index is loaded once per process."""
    if ctx.documents is None:
        raise ToolFailure("no document corpus is configured for search_documents")
    if not tokenize(args.query):
        raise ToolFailure(f"the query {args.query!r} has no searchable words (only stop words or punctuation)")
    index = get_index(ctx.documents)
    results = index.search(args.query, limit=args.limit, filters=args.filters)
    return {"query": args.query, "total_documents": len(index), "results": results}
