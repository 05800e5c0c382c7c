"""classify_content: an obvious winner, no winner, ambiguity, validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lambda_tools.classify_content.tool import ClassifyContentInput, run
from lambda_tools.spec import ToolContext

CATEGORIES = ["billing", "security", "performance"]
DESCRIPTIONS = {
    "billing": "invoice payment refund charge credit card subscription price",
    "security": "password breach vulnerability login attack leak",
    "performance": "slow latency timeout cpu memory throughput",
}


def classify(text: str, **kwargs) -> dict:
    kwargs.setdefault("categories", CATEGORIES)
    return run(ClassifyContentInput(text=text, **kwargs), ToolContext())


def test_obvious_winner_with_high_confidence() -> None:
    result = classify("I was charged twice on my credit card; please refund the invoice.", descriptions=DESCRIPTIONS)
    assert result["best"] == "billing" and result["confidence"] > 0.6
    assert result["scores"][0]["category"] == "billing"
    assert {"charged", "refund", "invoice"} <= set(result["scores"][0]["matched_terms"])
    assert all(s["score"] == 0 for s in result["scores"][1:])


def test_category_names_alone_can_match() -> None:
    result = classify("Our security team found a problem with login security.")
    assert result["best"] == "security"


def test_nothing_matches_means_no_winner() -> None:
    result = classify("The flowers bloom in spring and the weather is lovely.", descriptions=DESCRIPTIONS)
    assert result["best"] is None and result["confidence"] == 0.0
    assert all(s["score"] == 0 for s in result["scores"])


def test_a_tie_has_low_confidence() -> None:
    result = classify("A password leak happened and the servers were slow.",
                      descriptions={"security": "password leak", "performance": "slow servers"})
    assert result["confidence"] < 0.5


def test_weak_evidence_has_lower_confidence_than_strong() -> None:
    weak = classify("There was a refund.", descriptions=DESCRIPTIONS)["confidence"]
    strong = classify("Refund the invoice payment charged to my card, and cancel the subscription price.",
                      descriptions=DESCRIPTIONS)["confidence"]
    assert weak < strong


def test_inputs_are_validated() -> None:
    with pytest.raises(ValidationError, match="distinct"):
        ClassifyContentInput(text="x", categories=["a", "A"])
    with pytest.raises(ValidationError, match="unknown categories"):
        ClassifyContentInput(text="x", categories=["a"], descriptions={"b": "y"})
    with pytest.raises(ValidationError):
        ClassifyContentInput(text="x", categories=[])
