"""extract_entities: people, organisations, places, dates, money, percentages and quantities."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from lambda_tools.common import ToolFailure
from lambda_tools.extract_entities.named import NAMED_TYPES, named_matches
from lambda_tools.extract_entities.numeric import PRIORITY, Match, numeric_matches
from lambda_tools.schema import DOC_ID_DESCRIPTION, DOC_ID_PATTERN, ToolInput
from lambda_tools.spec import ToolContext

EntityType = Literal["person", "organization", "location", "date", "money", "percent", "quantity"]
ENTITY_TYPES: tuple[str, ...] = ("person", "organization", "location", "date", "money", "percent", "quantity")

DESCRIPTION = (
    "Finds named entities in a text or corpus document: person, organization, location, date, money, percent "
    "and quantity (a number with a unit). Each entity comes with its type, its text, the character spans "
    "[start, end) of every mention and a count. Numeric types are exact; names are found by heuristics."
)
OUTPUT = "{entities: [{text, type, count, spans: [[start, end]] (first 50), value?}], counts: {type: n}, chars}"
MAX_SPANS = 50


class ExtractEntitiesInput(ToolInput):
    text: str | None = Field(None, min_length=1, max_length=500_000, description="The text to analyse.")
    document_id: str | None = Field(None, max_length=300, pattern=DOC_ID_PATTERN, description=DOC_ID_DESCRIPTION)
    entity_types: list[EntityType] | None = Field(
        None, min_length=1, description="Only these entity types (default: all)."
    )
    max_entities: int = Field(200, ge=1, le=2000, description="Maximum number of distinct entities returned.")

    @model_validator(mode="after")
    def _one_source(self) -> ExtractEntitiesInput:
        if (self.text is None) == (self.document_id is None):
            raise ValueError("give exactly one of text or document_id")
        return self


def run(args: ExtractEntitiesInput, ctx: ToolContext) -> dict[str, Any]:
    """Entities with spans into the given text (or the document's raw text), most frequent first."""
    if args.text is not None:
        text = args.text
    else:
        if ctx.documents is None:
            raise ToolFailure("no document corpus is configured; pass the text instead")
        text = ctx.documents.get(args.document_id or "").text
    types = set(args.entity_types or ENTITY_TYPES)
    numeric = _resolve(list(numeric_matches(text, types | {"date"})))
    taken = [(m.start, m.end) for m in numeric]
    found = [m for m in numeric if m.type in types]
    if types & NAMED_TYPES:
        found += [m for m in named_matches(text, taken) if m.type in types]
    entities: dict[tuple[str, str], dict[str, Any]] = {}
    for m in sorted(found, key=lambda m: m.start):
        surface = " ".join(text[m.start : m.end].split())
        canonical = m.value.get("canonical", surface) if isinstance(m.value, dict) else surface
        entry = entities.setdefault((m.type, canonical), {"text": canonical, "type": m.type, "count": 0, "spans": []})
        entry["count"] += 1
        if len(entry["spans"]) < MAX_SPANS:  # count stays exact; the model rarely needs every offset
            entry["spans"].append([m.start, m.end])
        extra = {k: v for k, v in (m.value or {}).items() if k != "canonical"}
        if extra and "value" not in entry:
            entry["value"] = extra
    ranked = sorted(entities.values(), key=lambda e: (-e["count"], e["spans"][0][0]))[: args.max_entities]
    counts = {t: sum(1 for e in ranked if e["type"] == t) for t in ENTITY_TYPES if t in types}
    return {"entities": ranked, "counts": counts, "chars": len(text)}


def _resolve(matches: list[Match]) -> list[Match]:
    """Non-overlapping matches: earliest first, then longest, then by type priority."""
    matches.sort(key=lambda m: (m.start, -(m.end - m.start), PRIORITY[m.type]))
    kept: list[Match] = []
    for m in matches:
        if kept and m.start < kept[-1].end:
            continue
        kept.append(m)
    return kept
