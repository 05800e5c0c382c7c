"""The research playbook: search, fetch in parallel, summarise and extract, then a cited report."""

from __future__ import annotations

from pathlib import Path

from agent_runtime.events import ToolCallFinished
from agent_runtime.models.offline import OFFLINE_NOTE
from tests.models.offline.support import QUESTION, cited, doc_ids, make_agent, tool_steps


async def test_research_playbook_search_fetch_in_parallel_then_summarize_and_extract(
    corpus: Path, tmp_path: Path
) -> None:
    result = await make_agent("research", corpus, tmp_path / "data").run(QUESTION)

    assert result.status == "succeeded", result.error
    steps = tool_steps(result)
    assert steps[0] == ["search_documents"]
    assert set(steps[1]) == {"fetch_document"} and len(steps[1]) >= 2  # best hits fetched in one turn
    assert set(steps[2]) == {"summarize_document", "extract_entities"}
    assert steps[2].count("summarize_document") == len(steps[1])
    assert result.steps == 4
    assert all(e.ok for e in result.events if isinstance(e, ToolCallFinished))

    answer = result.answer or ""
    assert answer.startswith(OFFLINE_NOTE)
    sources = cited(answer)
    assert {"asyncio/blocking", "asyncio/tasks"} <= sources
    assert sources <= doc_ids(corpus)
    assert "cooking/sourdough" not in sources
    assert "### Sources" in answer
    assert "to_thread" in answer  # quoted from the blocking-code document
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.cost_usd == 0.0


async def test_research_with_no_matching_document_says_so(corpus: Path, tmp_path: Path) -> None:
    result = await make_agent("research", corpus, tmp_path / "data").run("zyxwvut qqqq")
    assert result.status == "succeeded"
    assert tool_steps(result) == [["search_documents"]]
    assert result.answer is not None and result.answer.startswith(OFFLINE_NOTE)
    assert "No document in the corpus matched" in result.answer
