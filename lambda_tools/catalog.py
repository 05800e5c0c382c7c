"""The seven tools, declared once: the runtime, the CDK stack and the tests all read this.

Adding a tool is one folder (`tool.py` with input model + `run`, `handler.py`) and one entry here.
Keep imports light: Lambda handlers import this module on cold start.
"""

from __future__ import annotations

from lambda_tools.analyze_data import tool as analyze_data
from lambda_tools.classify_content import tool as classify_content
from lambda_tools.extract_entities import tool as extract_entities
from lambda_tools.fetch_document import tool as fetch_document
from lambda_tools.publish_report import tool as publish_report
from lambda_tools.search_documents import tool as search_documents
from lambda_tools.spec import ToolSpec
from lambda_tools.summarize_document import tool as summarize_document


def _handler(name: str) -> str:
    return f"lambda_tools.{name}.handler.handler"


CATALOG: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="search_documents",
        description=search_documents.DESCRIPTION,
        input_model=search_documents.SearchDocumentsInput,
        run=search_documents.run,
        handler=_handler("search_documents"),
        output_description=search_documents.OUTPUT,
        timeout_s=30,
        memory_mb=1024,  # the index lives in memory; more memory also means more CPU
    ),
    ToolSpec(
        name="fetch_document",
        description=fetch_document.DESCRIPTION,
        input_model=fetch_document.FetchDocumentInput,
        run=fetch_document.run,
        handler=_handler("fetch_document"),
        output_description=fetch_document.OUTPUT,
        timeout_s=30,
        memory_mb=256,
    ),
    ToolSpec(
        name="summarize_document",
        description=summarize_document.DESCRIPTION,
        input_model=summarize_document.SummarizeDocumentInput,
        run=summarize_document.run,
        handler=_handler("summarize_document"),
        output_description=summarize_document.OUTPUT,
        timeout_s=30,
        memory_mb=512,
    ),
    ToolSpec(
        name="extract_entities",
        description=extract_entities.DESCRIPTION,
        input_model=extract_entities.ExtractEntitiesInput,
        run=extract_entities.run,
        handler=_handler("extract_entities"),
        output_description=extract_entities.OUTPUT,
        timeout_s=30,
        memory_mb=256,
    ),
    ToolSpec(
        name="classify_content",
        description=classify_content.DESCRIPTION,
        input_model=classify_content.ClassifyContentInput,
        run=classify_content.run,
        handler=_handler("classify_content"),
        output_description=classify_content.OUTPUT,
        timeout_s=15,
        memory_mb=256,
    ),
    ToolSpec(
        name="analyze_data",
        description=analyze_data.DESCRIPTION,
        input_model=analyze_data.AnalyzeDataInput,
        run=analyze_data.run,
        handler=_handler("analyze_data"),
        output_description=analyze_data.OUTPUT,
        timeout_s=60,
        memory_mb=512,
    ),
    ToolSpec(
        name="publish_report",
        description=publish_report.DESCRIPTION,
        input_model=publish_report.PublishReportInput,
        run=publish_report.run,
        handler=_handler("publish_report"),
        output_description=publish_report.OUTPUT,
        sensitive=True,
        timeout_s=15,
        memory_mb=256,
    ),
)

_BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in CATALOG}
TOOL_NAMES: tuple[str, ...] = tuple(_BY_NAME)


def get_tool(name: str) -> ToolSpec:
    """The catalog entry called `name`; KeyError naming the known tools otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown tool {name!r}; known tools: {', '.join(TOOL_NAMES)}") from None
