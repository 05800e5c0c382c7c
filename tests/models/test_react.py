"""The ReAct text format: parsing replies and rendering the conversation for text-only models."""

from __future__ import annotations

import json

import pytest

from agent_runtime.models.react import ReactFormat, parse_react, render_tools, to_react_messages

TOOLS = [
    {"type": "function", "function": {"name": "search_documents", "description": "Search the docs.",
                                      "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "web.fetch-page", "description": "Fetch a page.",
                                      "parameters": {"type": "object", "properties": {"url": {"type": "string"}}}}},
]


def args(reply) -> list[tuple[str, dict]]:
    return [(c.name, json.loads(c.arguments)) for c in reply.tool_calls]


def test_single_action() -> None:
    r = parse_react('Thought: I need the docs.\nAction: search_documents\nAction Input: {"query": "asyncio"}')
    assert r.format_error is None and r.final_answer is None
    assert r.thought == "I need the docs."
    assert args(r) == [("search_documents", {"query": "asyncio"})]


def test_nested_multi_line_json() -> None:
    text = """Thought: complex input
Action: analyze_data
Action Input: {
  "data": [{"region": "north", "sales": [1, 2, {"q": "}"}]}],
  "ops": {"group_by": "region",
          "note": "braces { } and \\"quotes\\" inside strings"}
}
"""
    r = parse_react(text)
    assert args(r) == [("analyze_data", {
        "data": [{"region": "north", "sales": [1, 2, {"q": "}"}]}],
        "ops": {"group_by": "region", "note": 'braces { } and "quotes" inside strings'},
    })]


def test_names_with_hyphens_and_dots_and_markdown_emphasis() -> None:
    r = parse_react('**Thought:** fetch it\n**Action:** `web.fetch-page`\n**Action Input:** {"url": "https://x.y"}')
    assert args(r) == [("web.fetch-page", {"url": "https://x.y"})]


def test_several_actions_are_several_calls_with_distinct_ids() -> None:
    text = (
        "Thought: both at once\n"
        'Action: search_documents\nAction Input: {"query": "a"}\n\n'
        'Action: web.fetch-page\nAction Input: ```json\n{"url": "https://b"}\n```\n'
        'Action: search_documents\nAction Input: {"query": "c"}'
    )
    r = parse_react(text)
    assert args(r) == [("search_documents", {"query": "a"}), ("web.fetch-page", {"url": "https://b"}),
                       ("search_documents", {"query": "c"})]
    assert len({c.id for c in r.tool_calls}) == 3


def test_invented_observation_is_cut_off() -> None:
    text = ('Action: search_documents\nAction Input: {"query": "a"}\n'
            "Observation: I imagine it found X\nThought: done\nFinal Answer: X")
    r = parse_react(text)
    assert args(r) == [("search_documents", {"query": "a"})]
    assert "Observation" not in r.text and "Final Answer" not in r.text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('Action: search_documents\nAction Input: {"query": "unterminated', "not valid JSON"),
        ("Action: search_documents\nAction Input: query=asyncio", "not valid JSON"),
        ("Thought: hmm\nAction: search_documents", "no 'Action Input:' line"),
        ('Action: search_documents\nAction Input: ["a"]', "must be a JSON object"),
        ('Action: search documents now\nAction Input: {"q": 1}', "not a tool name"),
        ('Action:\nAction Input: {"q": 1}', "no tool name"),
        ('Action: search_documents\nAction Input: {"query": "a"}\nFinal Answer: guessed', "both an Action"),
        ("I will do it. Action: search_documents", "found 'Action'"),
        ("Thought: ok\nFinal Answer:   ", "Final Answer is empty"),
        ("", "empty"),
    ],
)
def test_malformed_replies_are_format_errors_never_answers(text: str, fragment: str) -> None:
    r = parse_react(text)
    assert r.final_answer is None and not r.tool_calls
    assert r.format_error is not None and fragment in r.format_error


def test_one_bad_action_among_good_ones_fails_the_whole_reply() -> None:
    r = parse_react('Action: search_documents\nAction Input: {"query": "a"}\n'
                    'Action: web.fetch-page\nAction Input: {"url": ')
    assert not r.tool_calls and "Action 2 of 2" in (r.format_error or "")


def test_final_answer_keeps_multi_line_markdown() -> None:
    r = parse_react("Thought: I have it.\nFinal Answer: # Report\n\n- point one [doc-1]\n- point two")
    assert r.format_error is None and not r.tool_calls
    assert r.final_answer == "# Report\n\n- point one [doc-1]\n- point two"
    assert r.thought == "I have it."


def test_final_answer_may_mention_actions_after_it() -> None:
    r = parse_react("Final Answer: Steps:\nAction: restart the service\nAction: check logs")
    assert r.final_answer == "Steps:\nAction: restart the service\nAction: check logs"


def test_plain_text_without_any_action_is_the_answer() -> None:
    r = parse_react("Thought: The answer is 42.")
    assert r.final_answer == "The answer is 42." and r.format_error is None


def test_render_tools_lists_names_schemas_and_format() -> None:
    text = render_tools(TOOLS)
    assert "### search_documents\nSearch the docs." in text
    assert '{"type":"object","properties":{"url":{"type":"string"}}}' in text
    assert "exactly one of: search_documents, web.fetch-page" in text
    for label in ("Thought:", "Action:", "Action Input:", "Final Answer:"):
        assert label in text


def test_conversation_is_rendered_as_text() -> None:
    calls = [{"id": "a", "type": "function", "function": {"name": "search_documents", "arguments": '{"query": "x"}'}},
             {"id": "b", "type": "function", "function": {"name": "web.fetch-page", "arguments": '{"url": "u"}'}}]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": "Looking.", "tool_calls": calls},  # e.g. from a native-mode session
        {"role": "tool", "tool_call_id": "a", "content": "hits"},
        {"role": "tool", "tool_call_id": "b", "content": "page"},
        {"role": "user", "content": "Format error: fix it"},
    ]
    out = to_react_messages(messages, "TOOLS")
    assert out[0] == {"role": "system", "content": "Be brief.\n\nTOOLS"}
    assert out[1] == messages[1]
    assert out[2] == {"role": "assistant", "content": (
        'Thought: Looking.\nAction: search_documents\nAction Input: {"query": "x"}\n'
        'Action: web.fetch-page\nAction Input: {"url": "u"}')}
    assert out[3] == {"role": "user", "content": "Observation 1 (search_documents): hits\n\n"
                                                 "Observation 2 (web.fetch-page): page"}
    assert out[4] == messages[5]
    assert len(out) == 5
    assert messages[2]["tool_calls"] is calls  # the input is not changed


def test_tools_prompt_is_rendered_once_per_tool_list() -> None:
    fmt = ReactFormat()
    first = fmt.tools_prompt(TOOLS)
    assert fmt.tools_prompt(TOOLS) is first
    assert fmt.tools_prompt(TOOLS[:1]) != first
