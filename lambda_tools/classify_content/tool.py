"""classify_content: scores a text against caller-given categories."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from pydantic import Field, model_validator

from lambda_tools.common import ToolFailure
from lambda_tools.schema import ToolInput
from lambda_tools.spec import ToolContext
from lambda_tools.text import token_spans, tokenize

DESCRIPTION = (
    "Scores a text against the categories you give (by word overlap with each category's name and optional "
    "description, tf-idf weighted) and returns a score per category, the best category and a confidence. "
    "When nothing matches, confidence is low and best is null: add descriptions with typical words."
)
OUTPUT = "{best: str|null, confidence: 0..1, scores: [{category, score, matched_terms}]}"


class ClassifyContentInput(ToolInput):
    text: str = Field(min_length=1, max_length=200_000, description="The text to classify.")
    categories: list[str] = Field(
        min_length=1, max_length=50, description="Category names, e.g. ['billing', 'security', 'performance']."
    )
    descriptions: dict[str, str] | None = Field(
        None, description="Optional description (typical words) per category name; improves matching."
    )

    @model_validator(mode="after")
    def _check(self) -> ClassifyContentInput:
        names = [c.strip() for c in self.categories]
        if any(not c or len(c) > 100 for c in names):
            raise ValueError("each category must be 1 to 100 characters")
        if len({c.lower() for c in names}) != len(names):
            raise ValueError("categories must be distinct")
        self.categories = names
        if self.descriptions:
            unknown = sorted(set(self.descriptions) - set(names))
            if unknown:
                raise ValueError(f"descriptions given for unknown categories {unknown}")
            if any(len(d) > 2000 for d in self.descriptions.values()):
                raise ValueError("each description must be at most 2000 characters")
        return self


K1 = 1.2
NAME_WEIGHT = 2.0  # a word of the category's name counts twice a word of its description


def run(args: ClassifyContentInput, ctx: ToolContext) -> dict[str, Any]:
    """Score each category by weighted overlap of its name+description words with the text.

    A term shared by many categories weighs less (idf over the category profiles); repeated
    mentions in the text saturate (BM25-style). Confidence = the best category's share of all
    evidence x how much evidence there is, so it is low both when nothing and when everything matches.
    """
    spans = token_spans(args.text)
    if not spans:
        raise ToolFailure("the text has no words to classify (only stop words, numbers or punctuation?)")
    text_tf = Counter(term for term, _, _ in spans)
    surface: dict[str, str] = {}
    for term, start, end in spans:
        surface.setdefault(term, args.text[start:end])
    descriptions = args.descriptions or {}
    profiles: dict[str, dict[str, float]] = {}
    for name in args.categories:
        profile: dict[str, float] = {}
        for term in tokenize(name.replace("_", " ").replace("-", " ")):
            profile[term] = profile.get(term, 0.0) + NAME_WEIGHT
        for term in tokenize(descriptions.get(name, "")):
            profile[term] = profile.get(term, 0.0) + 1.0
        profiles[name] = profile
    n = len(profiles)
    spread = Counter(term for profile in profiles.values() for term in profile)
    raw: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    for name, profile in profiles.items():
        total: float = 0.0
        hits: list[str] = []
        for term, weight in profile.items():
            tf = text_tf.get(term, 0)
            if not tf:
                continue
            idf = math.log(1 + (n - spread[term] + 0.5) / (spread[term] + 0.5))
            total += weight * idf * tf * (K1 + 1) / (tf + K1)
            hits.append(surface[term])
        raw[name] = total
        matched[name] = sorted(hits)
    evidence = sum(raw.values())
    ranked = sorted(args.categories, key=lambda c: (-raw[c], args.categories.index(c)))
    scores = [
        {"category": c, "score": round(raw[c], 4), "share": round(raw[c] / evidence, 4) if evidence else 0.0,
         "matched_terms": matched[c]}
        for c in ranked
    ]
    if evidence == 0:
        return {"best": None, "confidence": 0.0, "scores": scores,
                "note": "no category's name or description words occur in the text"}
    best = ranked[0]
    strength = 1 - math.exp(-raw[best] / 2)
    confidence = raw[best] / evidence * strength
    return {"best": best, "confidence": round(confidence, 4), "scores": scores}
