"""The content playbook: a draft written from summaries, published only when asked and approved."""

from __future__ import annotations

from pathlib import Path

from agent_runtime.checkpoint import ApprovalDecision, ApprovalRequest
from agent_runtime.models.offline import OFFLINE_NOTE
from tests.models.offline.support import cited, doc_ids, make_agent, tool_steps


async def test_content_drafts_from_summaries_and_does_not_publish_unless_asked(corpus: Path, tmp_path: Path) -> None:
    result = await make_agent("content", corpus, tmp_path / "data").run(
        "Write a short blog post about running blocking code in asyncio")
    assert result.status == "succeeded"
    assert tool_steps(result) == [["search_documents"], ["summarize_document"] * len(tool_steps(result)[1])]
    answer = result.answer or ""
    assert answer.startswith(OFFLINE_NOTE)
    assert "# Running blocking code in asyncio" in answer
    assert "asyncio/blocking" in cited(answer) and cited(answer) <= doc_ids(corpus)
    assert "publish" not in answer.lower().split("---")[0]


async def test_content_publishes_the_draft_once_approved(corpus: Path, tmp_path: Path) -> None:
    asked: list[ApprovalRequest] = []

    async def approve(request: ApprovalRequest) -> ApprovalDecision:
        asked.append(request)
        return ApprovalDecision(True)

    data_dir = tmp_path / "data"
    result = await make_agent("content", corpus, data_dir, approver=approve).run(
        "Write a note about asyncio tasks and publish it")
    assert result.status == "succeeded"
    assert [r.tool for r in asked] == ["publish_report"]
    reports = list((data_dir / "reports").rglob("*.md"))
    assert len(reports) == 1
    body = reports[0].read_text(encoding="utf-8")
    assert body.startswith("# Asyncio tasks") and "no LLM was called" in body
    assert f"`{reports[0]}`" in (result.answer or "")
    assert "**Published**" in (result.answer or "")


async def test_content_reports_a_rejected_publication_with_its_reason(corpus: Path, tmp_path: Path) -> None:
    async def reject(request: ApprovalRequest) -> ApprovalDecision:
        return ApprovalDecision(False, "not before the review")

    data_dir = tmp_path / "data"
    result = await make_agent("content", corpus, data_dir, approver=reject).run(
        "Write a note about asyncio tasks and publish it")
    assert result.status == "succeeded"
    assert "**Not published**" in (result.answer or "") and "not before the review" in (result.answer or "")
    assert not list((data_dir / "reports").rglob("*.md"))
    assert "# Asyncio tasks" in (result.answer or "")  # the draft is still handed back
