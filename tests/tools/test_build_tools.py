"""build_tools: Lambda where a function is configured, local otherwise, with the right backends."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from agent_runtime.agents import AGENTS
from agent_runtime.errors import ConfigurationError
from agent_runtime.settings import Settings
from agent_runtime.tools import LambdaTool, LocalTool, build_tools
from lambda_tools.backends import FolderDocuments, FolderReports


def test_local_by_default_with_folder_backends(docs_dir: Path, tmp_path: Path) -> None:
    tools = build_tools(AGENTS["content"].tools, Settings(), docs_dir=docs_dir, data_dir=tmp_path)
    assert list(tools) == list(AGENTS["content"].tools)
    assert all(isinstance(t, LocalTool) for t in tools.values())
    search = tools["search_documents"]
    assert isinstance(search.documents, FolderDocuments) and search.documents.root == docs_dir.resolve()
    publish = tools["publish_report"]
    assert isinstance(publish.reports, FolderReports) and publish.reports.root == tmp_path / "reports"


def test_lambda_where_configured() -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    settings = Settings(tool_functions={"search_documents": "arn:aws:lambda:us-east-1:1:function:s"})
    tools = build_tools(["search_documents", "summarize_document"], settings, lambda_client=client)
    assert isinstance(tools["search_documents"], LambdaTool)
    assert tools["search_documents"].function_name == "arn:aws:lambda:us-east-1:1:function:s"
    assert tools["search_documents"].client is client
    assert isinstance(tools["summarize_document"], LocalTool)


def test_tool_functions_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_PLATFORM_TOOL_FUNCTIONS", '{"analyze_data": "p-analyze-data"}')
    tools = build_tools(["analyze_data"], Settings(), lambda_client=object())
    assert isinstance(tools["analyze_data"], LambdaTool)


def test_unknown_names_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="unknown tool"):
        build_tools(["search_everything"], Settings())
    with pytest.raises(ConfigurationError, match="tool_functions names unknown tool"):
        build_tools(["search_documents"], Settings(tool_functions={"serch_documents": "f"}))


async def test_local_tools_work_end_to_end(docs_dir: Path, tmp_path: Path) -> None:
    tools = build_tools(["search_documents", "publish_report"], Settings(), docs_dir=docs_dir, data_dir=tmp_path)
    search = tools["search_documents"]
    found = await search.invoke(search.spec.input_model(query="flour"), task_id="t", call_id="c1")
    assert found["results"][0]["id"] == "bread"
    publish = tools["publish_report"]
    done = await publish.invoke(publish.spec.input_model(title="T", markdown="m"), task_id="t", call_id="c2")
    assert _stored_under(Path(done["location"]), tmp_path / "reports")


def _stored_under(path: Path, root: Path) -> bool:
    return path.is_file() and path.is_relative_to(root)


def test_buckets_are_used_when_set_and_no_folder_is_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lambda_tools.backends import S3Documents, S3Reports

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = Settings(documents_bucket="docs", reports_bucket="reports")
    tools = build_tools(["search_documents", "publish_report"], settings, data_dir=tmp_path)
    assert isinstance(tools["search_documents"].documents, S3Documents)
    assert isinstance(tools["publish_report"].reports, S3Reports)
