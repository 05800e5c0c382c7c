"""Reading the conversation: the task, the tool results (errors and truncated ones), and the task's words."""

from __future__ import annotations

import json

import pytest

from agent_runtime.models.offline import read_state, search_query, topic_of, wants_publishing
from tests.models.offline.support import conversation


def test_read_state_ignores_earlier_session_turns_and_reads_errors() -> None:
    messages = conversation("old task", ([("search_documents", {"query": "old"})], ["{}"]))
    messages += [{"role": "assistant", "content": "old answer"}, {"role": "user", "content": "new task"}]
    messages += conversation("ignored", ([("fetch_document", {"document_id": "x"})], ["ERROR: boom"]))[2:]
    state = read_state(messages)
    assert state.task == "new task"
    assert [(c.name, c.ok, c.error) for c in state.calls] == [("fetch_document", False, "boom")]


def test_a_truncated_tool_result_is_still_read() -> None:
    text = json.dumps({"id": "a", "title": "A", "text": "word " * 4000})[:12_000] + "... [truncated, 20051 characters in all]"
    messages = conversation("t", ([("fetch_document", {"document_id": "a"})], [text]))
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
