"""The catalog is the one source of truth: every entry is complete and consistent."""

from __future__ import annotations

import importlib
import json
import re

import pytest
from pydantic import ValidationError

from agent_runtime.agents import AGENTS
from lambda_tools.catalog import CATALOG, TOOL_NAMES, get_tool
from lambda_tools.spec import TOOL_RESOURCES

EXPECTED = ("search_documents", "fetch_document", "summarize_document", "extract_entities", "classify_content",
            "analyze_data", "publish_report")


def test_seven_tools_in_a_fixed_order() -> None:
    assert TOOL_NAMES == EXPECTED


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.name)
def test_entry_is_complete(spec) -> None:
    assert re.fullmatch(r"[a-z_]+", spec.name)
    assert len(spec.description) > 60 and spec.output_description
    assert 1 <= spec.timeout_s <= 900 and 128 <= spec.memory_mb <= 10240
    module_name, _, attr = spec.handler.rpartition(".")
    assert module_name == f"lambda_tools.{spec.name}.handler"
    assert callable(getattr(importlib.import_module(module_name), attr))


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.name)
def test_schema_is_flat_and_documented(spec) -> None:
    schema = spec.parameters_schema()
    assert "$ref" not in json.dumps(schema) and "$defs" not in schema
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{spec.name}.{name} has no description"
    assert spec.openai_tool()["function"]["name"] == spec.name


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.name)
def test_unknown_fields_are_refused(spec) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        spec.input_model.model_validate({"surprise": 1})


def test_only_publishing_is_sensitive() -> None:
    assert [s.name for s in CATALOG if s.sensitive] == ["publish_report"]


def test_tools_that_write_or_notify_are_sensitive() -> None:
    """Reaching beyond reading means acting on the world, which a human approves call by call."""
    acting = {"reports:write", "reports_topic:publish"}
    assert [s.name for s in CATALOG if s.resources & acting] == [s.name for s in CATALOG if s.sensitive]


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.name)
def test_entry_declares_the_resources_it_reaches(spec) -> None:
    assert "documents:read" in spec.resources and spec.resources <= set(TOOL_RESOURCES)


def test_every_agent_tool_is_in_the_catalog() -> None:
    for agent in AGENTS.values():
        for tool in agent.tools:
            assert get_tool(tool).name == tool


def test_unknown_tool_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown tool 'nope'; known tools: search_documents, fetch_document"):
        get_tool("nope")


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.name)
def test_the_model_is_told_what_each_tool_returns(spec) -> None:
    function = spec.openai_tool()["function"]
    assert function["description"].startswith(spec.description)
    assert function["description"].endswith(f"Returns {spec.output_description}.")
