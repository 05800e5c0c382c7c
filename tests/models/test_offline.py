"""The offline model: each agent's playbook over the real tools and a small corpus, resumption from a
conversation cut mid-playbook, and answers built only from tool results."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent_runtime.agents import get_agent
from agent_runtime.events import ModelTurn, ToolCallFinished, ToolCallStarted
from agent_runtime.loop import Agent, ApprovalDecision, ApprovalRequest, Checkpoint, TaskResult
from agent_runtime.memory import InMemoryMemory
from agent_runtime.models.base import Model
from agent_runtime.models.offline import (
    OFFLINE_NOTE,
    OfflineModel,
    inline_data,
    read_state,
    search_query,
    topic_of,
    wants_publishing,
)
from agent_runtime.settings import load_settings
from agent_runtime.tools import build_tools
from lambda_tools.catalog import get_tool
from lambda_tools.search_documents.index import clear_cache

CORPUS = {
    "asyncio/tasks.md": "# Asyncio tasks and coroutines\n\nA coroutine is declared with `async def`. Wrapping a "
    "coroutine in a task with asyncio.create_task() schedules it on the event loop so that it runs concurrently "
    "with other tasks. Awaiting the task returns its result. Tasks can be cancelled, and asyncio.gather() waits "
    "for several tasks at once.\n",
    "asyncio/blocking.md": "# Running blocking code\n\nBlocking calls such as time.sleep() or a slow file read "
    "stall the event loop: no other coroutine runs until they return. Run blocking functions in a worker thread "
    "with asyncio.to_thread() or loop.run_in_executor(), so the event loop keeps serving other tasks while the "
    "thread waits. Guido van Rossum designed asyncio at Google in 2012.\n",
    "asyncio/event-loop.md": "# The event loop\n\nThe event loop runs tasks and callbacks, performs network IO "
    "and runs subprocesses. asyncio.run() creates a new event loop, runs a coroutine until it completes, and "
    "closes the loop.\n",
    "cooking/sourdough.txt": "Sourdough bread\n\nMix flour, water and salt with an active starter. Let the dough "
    "rise overnight, shape the loaf and bake it in a hot Dutch oven.\n",
    "reports/sales-notes.md": "# Sales notes\n\nThe monthly sales figures are in data/sales.csv, one row per "
    "month and region.\n",
    "data/sales.csv": "month,region,units,revenue\n2024-01-01,north,10,100\n2024-02-01,south,12,130\n"
    "2024-03-01,north,15,150\n2024-04-01,south,11,120\n2024-05-01,north,20,200\n",
}
QUESTION = "How do asyncio tasks and the event loop work, and how do I run blocking code?"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    for name, text in CORPUS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    clear_cache()
    return root


def make_agent(name: str, docs: Path, data_dir: Path, *, approver: Any = None, memory: Any = None) -> Agent:
    spec = get_agent(name)
    tools = build_tools(spec.tools, load_settings(), docs_dir=docs, data_dir=data_dir)
    return Agent(spec, OfflineModel(spec), tools, approver=approver, memory=memory)


def tool_steps(result: TaskResult) -> list[list[str]]:
    """The tool names the model asked for, turn by turn."""
    return [[c["name"] for c in e.tool_calls] for e in result.events if isinstance(e, ModelTurn) and e.tool_calls]


def cited(answer: str) -> set[str]:
    return set(re.findall(r"\[([A-Za-z0-9_][\w./\-]*)\]", answer))


def doc_ids(root: Path) -> set[str]:
    return {p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*") if p.is_file()}


def test_offline_model_implements_the_protocol() -> None:
    model = OfflineModel(get_agent("research"))
    assert isinstance(model, Model)
    assert model.name == "offline" and model.offline is True


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


async def test_every_planned_call_is_valid_for_the_catalog_input_models(corpus: Path, tmp_path: Path) -> None:
    result = await make_agent("research", corpus, tmp_path / "data").run(QUESTION)
    turns = [e for e in result.events if isinstance(e, ModelTurn)]
    for turn in turns:
        for call in turn.tool_calls:
            assert re.fullmatch(rf"call_{turn.step}_\d+", call["id"])
            get_tool(call["name"]).input_model.model_validate(json.loads(call["arguments"]))


async def test_research_with_no_matching_document_says_so(corpus: Path, tmp_path: Path) -> None:
    result = await make_agent("research", corpus, tmp_path / "data").run("zyxwvut qqqq")
    assert result.status == "succeeded"
    assert tool_steps(result) == [["search_documents"]]
    assert result.answer is not None and result.answer.startswith(OFFLINE_NOTE)
    assert "No document in the corpus matched" in result.answer


async def test_research_resumes_from_a_checkpoint_without_repeating_calls(corpus: Path, tmp_path: Path) -> None:
    checkpoints: list[dict[str, Any]] = []

    async def keep(cp: Checkpoint) -> None:
        checkpoints.append(json.loads(json.dumps(cp.to_dict())))

    agent = make_agent("research", corpus, tmp_path / "data")
    full = await agent.run(QUESTION, on_checkpoint=keep)
    # The state right after the fetch results came back: a worker that died here resumes from it.
    cut = next(cp for cp in checkpoints
               if cp["step"] == 2 and sum(m["role"] == "tool" for m in cp["messages"]) == 1 + len(tool_steps(full)[1]))

    resumed = await make_agent("research", corpus, tmp_path / "data").run(QUESTION, resume=Checkpoint.from_dict(cut))

    assert resumed.status == "succeeded"
    again = {e.tool for e in resumed.events if isinstance(e, ToolCallStarted)}
    assert again == {"summarize_document", "extract_entities"}  # no second search or fetch
    assert resumed.answer == full.answer


def _conversation(task: str, *turns: tuple[list[tuple[str, dict[str, Any]]], list[str]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "x"}, {"role": "user", "content": task}]
    for n, (calls, results) in enumerate(turns, start=1):
        ids = [f"call_{n}_{i}" for i in range(1, len(calls) + 1)]
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in zip(ids, calls, strict=True)]})
        messages += [{"role": "tool", "tool_call_id": i, "content": r} for i, r in zip(ids, results, strict=True)]
    return messages


def _search_result(*hits: tuple[str, float]) -> str:
    return json.dumps({"query": "q", "total_documents": 9, "results": [
        {"id": doc, "title": doc.title(), "score": score, "snippet": f"about {doc}"} for doc, score in hits]})


async def test_planner_continues_from_the_step_a_cut_conversation_reached() -> None:
    model = OfflineModel(get_agent("research"))
    after_search = _conversation(QUESTION, ([("search_documents", {"query": "q"})],
                                            [_search_result(("a/one", 9.0), ("a/two", 8.0), ("a/far", 1.0))]))
    reply = await model.complete(after_search, [get_tool(n).openai_tool() for n in get_agent("research").tools])
    assert [(c.id, c.name, json.loads(c.arguments)["document_id"]) for c in reply.tool_calls] == [
        ("call_2_1", "fetch_document", "a/one"), ("call_2_2", "fetch_document", "a/two")]

    fetched = json.dumps({"source": "corpus", "id": "a/one", "title": "One", "text": "Tasks run on the loop.",
                          "chars": 22, "truncated": False})
    failed = "ERROR: fetch_document failed: no document with id 'a/two'"
    after_fetch = _conversation(
        QUESTION,
        ([("search_documents", {"query": "q"})], [_search_result(("a/one", 9.0), ("a/two", 8.0))]),
        ([("fetch_document", {"document_id": "a/one"}), ("fetch_document", {"document_id": "a/two"})],
         [fetched, failed]),
    )
    reply = await model.complete(after_fetch, [get_tool(n).openai_tool() for n in get_agent("research").tools])
    # The failed fetch is skipped: only the fetched text is summarised and mined for entities.
    assert sorted(c.name for c in reply.tool_calls) == ["extract_entities", "summarize_document"]
    assert all(json.loads(c.arguments)["text"] == "Tasks run on the loop." for c in reply.tool_calls)


async def test_a_follow_up_task_in_a_session_starts_its_own_playbook(corpus: Path, tmp_path: Path) -> None:
    memory = InMemoryMemory()
    agent = make_agent("research", corpus, tmp_path / "data", memory=memory)
    await agent.run(QUESTION, session_id="s1")
    second = await agent.run("What does asyncio.run() do?", session_id="s1")
    assert len(await memory.load("s1")) > 2  # the first task's turns were kept ...
    assert tool_steps(second)[0] == ["search_documents"]  # ... but the planner plans the new task afresh
    assert "asyncio/event-loop" in cited(second.answer or "")


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


async def test_analysis_of_an_inline_csv_block(corpus: Path, tmp_path: Path) -> None:
    task = ("Which team is fastest, and is speed improving?\n```csv\nday,team,speed\n1,red,10\n2,blue,14\n"
            "3,red,12\n4,blue,18\n5,red,14\n```")
    result = await make_agent("analysis", corpus, tmp_path / "data").run(task)
    assert result.status == "succeeded"
    steps = tool_steps(result)
    assert steps[0] == ["analyze_data"]  # no search: the data is in the task
    assert len(steps[1]) == 3  # group_by, correlation and trend in parallel
    answer = result.answer or ""
    assert answer.startswith(OFFLINE_NOTE)
    assert "| blue | 16 | 2 |" in answer and "| red | 12 | 3 |" in answer  # mean speed per team
    assert "speed is increasing: 1.2 per unit of day" in answer
    assert "the data given in the task" in answer


async def test_analysis_finds_the_data_file_through_search(corpus: Path, tmp_path: Path) -> None:
    result = await make_agent("analysis", corpus, tmp_path / "data").run("What do the monthly sales figures say?")
    assert result.status == "succeeded"
    assert tool_steps(result)[:2] == [["search_documents"], ["analyze_data"]]
    answer = result.answer or ""
    assert "[data/sales.csv]" in answer
    assert "| north | 150 | 3 |" in answer  # mean revenue per region, from the real file
    assert "units and revenue: r = +0.99" in answer


async def test_analysis_without_any_data_explains_what_to_give(corpus: Path, tmp_path: Path) -> None:
    result = await make_agent("analysis", corpus, tmp_path / "data").run("Analyse the sourdough rising times")
    assert result.status == "succeeded"
    assert "No data to analyse" in (result.answer or "")


def test_read_state_ignores_earlier_session_turns_and_reads_errors() -> None:
    messages = _conversation("old task", ([("search_documents", {"query": "old"})], ["{}"]))
    messages += [{"role": "assistant", "content": "old answer"}, {"role": "user", "content": "new task"}]
    messages += _conversation("ignored", ([("fetch_document", {"document_id": "x"})], ["ERROR: boom"]))[2:]
    state = read_state(messages)
    assert state.task == "new task"
    assert [(c.name, c.ok, c.error) for c in state.calls] == [("fetch_document", False, "boom")]


def test_a_truncated_tool_result_is_still_read() -> None:
    text = json.dumps({"id": "a", "title": "A", "text": "word " * 4000})[:12_000] + "... [truncated, 20051 characters in all]"
    messages = _conversation("t", ([("fetch_document", {"document_id": "a"})], [text]))
    call = read_state(messages).calls[0]
    assert call.ok and call.data["id"] == "a" and call.data["text"].startswith("word word")


@pytest.mark.parametrize(("task", "expected"), [
    ("Write a post about X and publish it", True),
    ("Draft a note on Y, then post it to the wiki", True),
    ("Please release this report", True),
    ("Write a blog post about Z", False),
    ("Draft release notes for the csv module", False),
])
def test_publishing_is_detected_from_the_task_words(task: str, expected: bool) -> None:
    assert wants_publishing(task) is expected


def test_queries_and_topics_drop_instruction_words() -> None:
    task = "Write a short blog post about asyncio tasks and the event loop, and publish it"
    assert topic_of(task) == "asyncio tasks and the event loop"
    assert search_query(task) == "asyncio tasks event loop"


def test_inline_data_is_found_in_fences_json_and_plain_lines() -> None:
    assert inline_data("x\n```csv\na,b\n1,2\n```") == ("a,b\n1,2", "csv")
    assert inline_data('rows: [{"a": 1}, {"a": 2}]') == ('[{"a": 1}, {"a": 2}]', "json")
    assert inline_data("Look at this:\nname,score\nann,3\nbob,5\nthanks") == ("name,score\nann,3\nbob,5", "csv")
    assert inline_data("Just a question, with a comma.") is None
