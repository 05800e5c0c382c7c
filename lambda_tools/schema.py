"""The base of every tool input model: strict fields and a flat JSON schema for the model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

# Document ids: relative paths without extension, slash-separated ("guides/asyncio-task").
DOC_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$"
DOC_ID_DESCRIPTION = "Id of a document in the corpus, as returned by search_documents (e.g. 'guides/asyncio-task')."


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = dict(defs[ref.removeprefix("#/$defs/")])
            extra = {k: v for k, v in node.items() if k != "$ref"}
            return _inline_refs({**target, **extra}, defs)
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


class ToolInput(BaseModel):
    """Unknown fields are refused (the model learns the schema), and the JSON schema has no `$ref`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        schema = super().model_json_schema(*args, **kwargs)
        defs = schema.pop("$defs", None)
        return _inline_refs(schema, defs) if defs else schema


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """A short, model-readable list of what is wrong with the arguments."""
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
