"""The seven tools, declared once: the runtime, the CDK stack and the tests all read this.

Adding a tool is one folder (`tool.py` with input model + `run`, `handler.py`) and one entry here.
Keep imports light: Lambda handlers import this module on cold start.
"""

from __future__ import annotations

from types import ModuleType

from pydantic import BaseModel

from lambda_tools.analyze_data import tool as analyze_data
from lambda_tools.classify_content import tool as classify_content
from lambda_tools.extract_entities import tool as extract_entities
from lambda_tools.fetch_document import tool as fetch_document
from lambda_tools.publish_report import tool as publish_report
from lambda_tools.search_documents import tool as search_documents
from lambda_tools.spec import ToolResource, ToolSpec
from lambda_tools.summarize_document import tool as summarize_document

# What the deployed functions may reach: every tool reads the corpus; publishing also writes reports
# and notifies, which is why it is sensitive (a human approves each call).
_CORPUS: frozenset[ToolResource] = frozenset({"documents:read"})
_PUBLISHING: frozenset[ToolResource] = _CORPUS | {"reports:read", "reports:write", "reports_topic:publish"}


def _entry(tool: ModuleType, input_model: type[BaseModel], *, timeout_s: int, memory_mb: int,
           resources: frozenset[ToolResource], sensitive: bool = False) -> ToolSpec:
    """A catalog entry from its tool module (`lambda_tools.<name>.tool`: DESCRIPTION, OUTPUT, run)."""
    name = tool.__name__.split(".")[-2]
    return ToolSpec(
        name=name,
        description=tool.DESCRIPTION,
        input_model=input_model,
        run=tool.run,
        handler=f"lambda_tools.{name}.handler.handler",
        output_description=tool.OUTPUT,
        sensitive=sensitive,
        resources=resources,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
    )


CATALOG: tuple[ToolSpec, ...] = (
    # The index lives in memory; more memory also means more CPU.
    _entry(search_documents, search_documents.SearchDocumentsInput, timeout_s=30, memory_mb=1024, resources=_CORPUS),
    _entry(fetch_document, fetch_document.FetchDocumentInput, timeout_s=30, memory_mb=256, resources=_CORPUS),
    _entry(summarize_document, summarize_document.SummarizeDocumentInput, timeout_s=30, memory_mb=512,
           resources=_CORPUS),
    _entry(extract_entities, extract_entities.ExtractEntitiesInput, timeout_s=30, memory_mb=256, resources=_CORPUS),
    _entry(classify_content, classify_content.ClassifyContentInput, timeout_s=15, memory_mb=256, resources=_CORPUS),
    _entry(analyze_data, analyze_data.AnalyzeDataInput, timeout_s=60, memory_mb=512, resources=_CORPUS),
    _entry(publish_report, publish_report.PublishReportInput, timeout_s=15, memory_mb=256, resources=_PUBLISHING,
           sensitive=True),
)

_BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in CATALOG}
TOOL_NAMES: tuple[str, ...] = tuple(_BY_NAME)


def get_tool(name: str) -> ToolSpec:
    """The catalog entry called `name`; KeyError naming the known tools otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown tool {name!r}; known tools: {', '.join(TOOL_NAMES)}") from None
