"""The offline model as a `Model`: valid calls for the catalog, and resumption from a conversation cut
mid-playbook (a checkpoint, or a follow-up task in the same session)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from agent_runtime.agents import get_agent
from agent_runtime.checkpoint import Checkpoint
from agent_runtime.events import ModelTurn, ToolCallStarted
from agent_runtime.memory import InMemoryMemory
from agent_runtime.models.base import Model
from agent_runtime.models.offline import OfflineModel
from lambda_tools.catalog import get_tool
from tests.models.offline.support import QUESTION, cited, conversation, make_agent, search_result, tool_steps


def test_offline_model_implements_the_protocol() -> None:
    model = OfflineModel(get_agent("research"))
    assert isinstance(model, Model)
    assert model.name == "offline" and model.offline is True


async def test_every_planned_call_is_valid_for_the_catalog_input_models(corpus: Path, tmp_path: Path) -> None:
    result = await make_agent("research", corpus, tmp_path / "data").run(QUESTION)
    turns = [e for e in result.events if isinstance(e, ModelTurn)]
    for turn in turns:
        for call in turn.tool_calls:
            assert re.fullmatch(rf"call_{turn.step}_\d+", call["id"])
            get_tool(call["name"]).input_model.model_validate(json.loads(call["arguments"]))


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


async def test_planner_continues_from_the_step_a_cut_conversation_reached() -> None:
    model = OfflineModel(get_agent("research"))
    after_search = conversation(QUESTION, ([("search_documents", {"query": "q"})],
                                            [search_result(("a/one", 9.0), ("a/two", 8.0), ("a/far", 1.0))]))
    reply = await model.complete(after_search, [get_tool(n).openai_tool() for n in get_agent("research").tools])
    assert [(c.id, c.name, json.loads(c.arguments)["document_id"]) for c in reply.tool_calls] == [
        ("call_2_1", "fetch_document", "a/one"), ("call_2_2", "fetch_document", "a/two")]

    fetched = json.dumps({"source": "corpus", "id": "a/one", "title": "One", "text": "Tasks run on the loop.",
                          "chars": 22, "truncated": False})
    failed = "ERROR: fetch_document failed: no document with id 'a/two'"
    after_fetch = conversation(
        QUESTION,
        ([("search_documents", {"query": "q"})], [search_result(("a/one", 9.0), ("a/two", 8.0))]),
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
