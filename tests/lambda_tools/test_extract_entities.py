"""extract_entities: exact numeric entities, sensible named ones, spans that point into the text."""

from __future__ import annotations

import pytest

from lambda_tools.extract_entities.tool import ExtractEntitiesInput, run
from lambda_tools.spec import ToolContext

TEXT = (
    "Dr. Jane Smith, CEO of Acme Corp., said on March 15, 2024 that revenue grew 12.5% to $4.2 million in Germany. "
    "The company, based in San Francisco, shipped 3.5 tons of parts and cut latency to 45 ms. "
    "Smith met Tim Cook of Apple in London on 2024-04-01. The University of Cambridge study cost €20,000. "
    "Running Blocking Code In Threads is just a heading."
)


def extract(text: str = TEXT, **kwargs) -> dict[tuple[str, str], dict]:
    result = run(ExtractEntitiesInput(text=text, **kwargs), ToolContext())
    return {(e["type"], e["text"]): e for e in result["entities"]}


def test_every_span_points_at_the_entity_text() -> None:
    for (kind, text), entity in extract().items():
        assert entity["count"] == len(entity["spans"])  # few mentions: every span is listed
        for start, end in entity["spans"]:
            surface = TEXT[start:end]
            assert surface == text or kind == "person", (kind, text, surface)


@pytest.mark.parametrize("kind, text, value", [
    ("money", "$4.2 million", {"amount": 4_200_000.0, "currency": "USD"}),
    ("money", "€20,000", {"amount": 20_000.0, "currency": "EUR"}),
    ("percent", "12.5%", {"value": 12.5}),
    ("date", "March 15, 2024", {"iso": "2024-03-15"}),
    ("date", "2024-04-01", {"iso": "2024-04-01"}),
    ("quantity", "3.5 tons", {"value": 3.5, "unit": "tons"}),
    ("quantity", "45 ms", {"value": 45.0, "unit": "ms"}),
])
def test_numeric_entities_are_exact(kind: str, text: str, value: dict) -> None:
    assert extract()[(kind, text)]["value"] == value


@pytest.mark.parametrize("kind, text", [
    ("person", "Jane Smith"), ("person", "Tim Cook"), ("organization", "Acme Corp."), ("organization", "Apple"),
    ("organization", "University of Cambridge"), ("location", "Germany"), ("location", "San Francisco"),
    ("location", "London"),
])
def test_named_entities(kind: str, text: str) -> None:
    assert (kind, text) in extract()


def test_surname_mentions_count_for_the_person() -> None:
    jane = extract()[("person", "Jane Smith")]
    assert jane["count"] == 2 and TEXT[slice(*jane["spans"][1])] == "Smith"


def test_no_false_entities_from_title_case_headings_or_titles() -> None:
    texts = {text for _, text in extract()}
    assert not any("Blocking" in t or "Running" in t for t in texts)
    assert "CEO" not in texts and "Dr" not in texts


def test_entity_type_filter() -> None:
    kinds = {kind for kind, _ in extract(entity_types=["money", "percent"])}
    assert kinds == {"money", "percent"}


def test_numbers_without_units_are_not_quantities() -> None:
    assert extract("There were 17 of them and version 3 shipped.") == {}


def test_counts_and_repeats() -> None:
    result = run(ExtractEntitiesInput(text="Paris is big. I love Paris. Paris!"), ToolContext())
    (paris,) = result["entities"]
    assert paris["count"] == 3 and result["counts"]["location"] == 1


def test_spans_are_capped_but_the_count_is_exact() -> None:
    result = run(ExtractEntitiesInput(text="Paris. " * 120), ToolContext())
    (paris,) = result["entities"]
    assert paris["count"] == 120 and len(paris["spans"]) == 50
