"""summarize_document: length bounds, original order, central sentences chosen."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lambda_tools.spec import ToolContext
from lambda_tools.summarize_document.tool import SummarizeDocumentInput, run

ARTICLE = """# Solar power in 2024

Solar power capacity grew faster than any other energy source in 2024.
My neighbour painted his fence green last weekend.
Cheaper solar panels and better batteries made solar power the cheapest new electricity in many countries.
The weather was pleasant on Tuesday.
Grid operators now plan for solar power peaks at noon and battery discharge in the evening.
Analysts expect solar capacity to double again by 2030 as panel prices keep falling.
"""


def summarize(text: str, **kwargs) -> dict:
    return run(SummarizeDocumentInput(text=text, **kwargs), ToolContext())


@pytest.mark.parametrize("bound", [60, 150, 250, 400])
def test_summary_stays_within_the_character_bound(bound: int) -> None:
    result = summarize(ARTICLE, max_length=bound)
    assert 0 < len(result["summary"]) <= bound == bound
    assert result["chars"] == len(result["summary"])


def test_sentence_bound_and_original_order() -> None:
    result = summarize(ARTICLE, max_length=2, unit="sentences")
    assert len(result["sentences"]) == 2
    positions = [ARTICLE.index(s) for s in result["sentences"]]
    assert positions == sorted(positions)


def test_off_topic_sentences_are_left_out() -> None:
    summary = summarize(ARTICLE, max_length=3, unit="sentences")["summary"]
    assert "fence" not in summary and "Tuesday" not in summary
    assert summary.count("solar") + summary.count("Solar") >= 3


def test_a_bound_shorter_than_any_sentence_cuts_the_best_one() -> None:
    result = summarize("Supercalifragilistic words make an extraordinarily long sentence about nothing much at all.",
                       max_length=50)
    assert len(result["summary"]) <= 50 and result["summary"].endswith("...")


def test_summary_of_a_corpus_document(ctx: ToolContext) -> None:
    result = run(SummarizeDocumentInput(document_id="asyncio/blocking", max_length=200), ctx)
    assert "thread" in result["summary"] and len(result["summary"]) <= 200


def test_long_texts_use_the_linear_method() -> None:
    text = " ".join(f"Sentence number {i} talks about topic {i % 7} and item {i % 11}." for i in range(400))
    result = summarize(text, max_length=300)
    assert result["method"] == "centroid" and len(result["summary"]) <= 300


def test_bounds_are_validated() -> None:
    with pytest.raises(ValidationError, match="at least 50 characters"):
        SummarizeDocumentInput(text="x", max_length=10)
    with pytest.raises(ValidationError, match="exactly one"):
        SummarizeDocumentInput(max_length=100)
