"""The ReAct text format, for models without native function calling.

The conversation stays in the OpenAI shape (assistant `tool_calls`, `role: tool`
results) so the loop, the checkpoints and the session memory do not know which
mode is in use. Only on the way to the model is it turned into text: the tool
list goes into the system prompt with the exact format to use, assistant tool
calls become `Action:` / `Action Input:` lines and tool results become
`Observation:` user messages. Replies are parsed back into `ToolCall`s (several
actions in one reply are parallel calls) or a final answer. An action that does
not parse is a format error for the model to fix, never a final answer.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.models.base import Message, ToolCall

# Sent as the `stop` sequence: the model must not invent its own observations.
STOP_SEQUENCES = ["\nObservation:"]

_FORMAT_HELP = (
    "Reply either with 'Thought: ...' then one or more 'Action: <tool name>' lines, each followed by "
    "'Action Input: <JSON object>', or with 'Thought: ...' then 'Final Answer: <answer>'."
)

_NOT_RUN = " No action of this reply was run."

# A label at the start of a line, tolerating Markdown emphasis ("**Action:** x", "**Action**: x").
_LEAD = r"^[ \t]*[*_#>]*[ \t]*"
_TAIL = r"[ \t]*[*_]*[ \t]*:[ \t]*[*_]*[ \t]*"
_ACTION = re.compile(_LEAD + r"Action(?:[ \t]*\d+)?" + _TAIL + r"(.*)$", re.M | re.I)
_INPUT = re.compile(_LEAD + r"Action[ \t_]*Input(?:[ \t]*\d+)?" + _TAIL, re.M | re.I)
_FINAL = re.compile(_LEAD + r"Final[ \t_]*Answer" + _TAIL, re.M | re.I)
_THOUGHT = re.compile(r"\A\s*[*_#>]*[ \t]*Thought" + _TAIL, re.I)
_OBSERVATION = re.compile(_LEAD + r"Observation\b", re.M | re.I)
_ANY_ACTION = re.compile(r"\bAction(?:[ \t_]*Input)?[ \t]*[*_]*[ \t]*:", re.I)
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-:/]{0,127}$")
_FENCE = re.compile(r"\A```[A-Za-z]*[ \t]*\n?")


@dataclass(slots=True)
class ParsedReply:
    """A ReAct reply: `thought`, then either `tool_calls`, a `final_answer`, or a `format_error`."""

    thought: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    final_answer: str | None = None
    format_error: str | None = None
    text: str = ""  # the reply as kept in the conversation (without invented observations)


def render_tools(tools: list[dict[str, Any]]) -> str:
    """The system prompt section that lists the tools and states the exact reply format."""
    if not tools:
        return "Answer directly, in this format:\n\nThought: your reasoning\nFinal Answer: your answer"
    parts = ["## Tools\n\nYou can use these tools:"]
    names = []
    for tool in tools:
        fn = tool.get("function", tool)
        names.append(fn["name"])
        schema = json.dumps(fn.get("parameters") or {"type": "object", "properties": {}}, separators=(",", ":"))
        parts.append(f"### {fn['name']}\n{(fn.get('description') or '').strip()}\nArguments (JSON schema): {schema}")
    parts.append(
        "## Format\n\nTo use a tool, reply in exactly this format and then stop:\n\n"
        "Thought: why you need the tool\n"
        f"Action: the tool name, exactly one of: {', '.join(names)}\n"
        "Action Input: the arguments as one JSON object that matches the tool's schema\n\n"
        "To use several tools at once (when the calls do not depend on each other), write several "
        "Action / Action Input pairs in one reply. Never write an Observation yourself: the results come "
        "back to you as 'Observation' messages, in the order of your actions.\n\n"
        "When you have enough information, reply in exactly this format:\n\n"
        "Thought: why you can answer now\n"
        "Final Answer: your answer"
    )
    return "\n\n".join(parts)


def to_react_messages(messages: list[Message], tools_prompt: str) -> list[Message]:
    """The conversation as the text-only model sees it (a new list; the input is not changed).

    Linear in the conversation, like the JSON encoding of the request that follows it;
    each message is converted with a few string operations and no copies of its content.
    """
    out: list[Message] = []
    names: dict[str, str] = {}  # call id -> tool name, for labelling observations
    observations: list[str] = []

    def flush() -> None:
        if len(observations) == 1:
            out.append({"role": "user", "content": "Observation: " + observations[0]})
        elif observations:
            out.append({"role": "user", "content": "\n\n".join(observations)})
        observations.clear()

    pending_total = 0
    for msg in messages:
        role = msg.get("role")
        if role == "tool":
            call_id = msg.get("tool_call_id", "")
            content = message_text(msg.get("content"))
            if pending_total > 1:
                observations.append(f"Observation {len(observations) + 1} ({names.get(call_id, 'tool')}): {content}")
            else:
                observations.append(content)
            continue
        flush()
        if role == "system" and not out:
            out.append({"role": "system", "content": f"{message_text(msg.get('content'))}\n\n{tools_prompt}"})
        elif role == "assistant" and msg.get("tool_calls"):
            calls = msg["tool_calls"]
            pending_total = len(calls)
            for c in calls:
                names[c.get("id", "")] = c.get("function", {}).get("name", "tool")
            out.append({"role": "assistant", "content": _assistant_text(msg)})
        else:
            out.append(msg if role in ("user", "assistant", "system") else {"role": "user",
                                                                              "content": message_text(msg.get("content"))})
    flush()
    if not out or out[0].get("role") != "system":
        out.insert(0, {"role": "system", "content": tools_prompt})
    return out


def message_text(content: Any) -> str:
    """The text of a message's content (a string, None, or a list of content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _assistant_text(msg: Message) -> str:
    """An assistant turn with tool calls as ReAct text: its own words when it wrote them in
    this format (react mode), else rendered from the calls (e.g. a native-mode session)."""
    content = message_text(msg.get("content"))
    if _ACTION.search(content):
        return content
    lines = [f"Thought: {content.strip()}"] if content.strip() else []
    for c in msg["tool_calls"]:
        fn = c.get("function", {})
        lines.append(f"Action: {fn.get('name', '')}\nAction Input: {fn.get('arguments') or '{}'}")
    return "\n".join(lines)


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:20]}"


def parse_react(text: str) -> ParsedReply:
    """Parse one ReAct reply. Never raises: what does not parse is a `format_error`."""
    cut = _OBSERVATION.search(text)
    if cut is not None:  # the model went on to invent an observation: drop it and what follows
        text = text[: cut.start()]
    text = text.strip()
    actions = list(_ACTION.finditer(text))
    final = _FINAL.search(text)
    if actions and not (final is not None and final.start() < actions[0].start()):
        thought = _thought(text[: actions[0].start()])
        if final is not None:
            return ParsedReply(thought, format_error=(
                "the reply has both an Action and a Final Answer. Either call tools and wait for their "
                "observations, or give the final answer. " + _FORMAT_HELP), text=text)
        calls: list[ToolCall] = []
        for i, match in enumerate(actions):
            end = actions[i + 1].start() if i + 1 < len(actions) else len(text)
            call, error = _parse_action(match.group(1), text[match.end() : end], i + 1, len(actions))
            if error is not None:
                return ParsedReply(thought, format_error=error, text=text)
            assert call is not None
            calls.append(call)
        return ParsedReply(thought, tool_calls=calls, text=text)
    if final is not None:
        answer = text[final.end() :].strip()
        if not answer:
            return ParsedReply(_thought(text[: final.start()]), format_error="the Final Answer is empty. "
                               + _FORMAT_HELP, text=text)
        return ParsedReply(_thought(text[: final.start()]), final_answer=answer, text=text)
    if _ANY_ACTION.search(text):
        return ParsedReply(_thought(text), format_error=(
            "found 'Action' but no valid 'Action: <tool name>' line at the start of a line. " + _FORMAT_HELP
        ), text=text)
    if not text:
        return ParsedReply(format_error="the reply is empty. " + _FORMAT_HELP, text=text)
    answer = _thought(text)  # plain text with no action at all: the answer
    return ParsedReply(final_answer=answer or text, text=text)


def _thought(text: str) -> str:
    return _THOUGHT.sub("", text, count=1).strip()


def _parse_action(raw_name: str, body: str, index: int, total: int) -> tuple[ToolCall | None, str | None]:
    which = f"Action {index} of {total}" if total > 1 else "the Action"
    name = raw_name.strip().strip("`'\"*_ ").strip()
    if not name:
        return None, f"{which} has no tool name. " + _FORMAT_HELP
    if not _TOOL_NAME.match(name):
        return None, (f"{which} names {name[:80]!r}, which is not a tool name: write only the name on the "
                      "Action line and the arguments as JSON on the 'Action Input:' line. " + _FORMAT_HELP)
    label = _INPUT.search(body)
    if label is None:
        return None, f"{which} ({name}) has no 'Action Input:' line with its JSON arguments. " + _FORMAT_HELP
    which = f"the Action Input of {which} ({name})" if total > 1 else f"the Action Input of {name}"
    rest = _FENCE.sub("", body[label.end() :].lstrip())
    if not rest.strip():
        return None, f"{which} is empty; give a JSON object (use {{}} for no arguments)."
    try:
        value, _ = json.JSONDecoder().raw_decode(rest)
    except json.JSONDecodeError as exc:
        return None, (f"{which} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                      'give one JSON object, e.g. {"key": "value"}.' + _NOT_RUN)
    if not isinstance(value, dict):
        return None, f"{which} must be a JSON object, got {type(value).__name__}." + _NOT_RUN
    return ToolCall(new_call_id(), name, json.dumps(value, ensure_ascii=False)), None


class ReactFormat:
    """Renders requests and parses replies in ReAct mode; caches the tools prompt per tool list."""

    def __init__(self) -> None:
        self._prompts: dict[int, tuple[list[dict[str, Any]], str]] = {}

    def tools_prompt(self, tools: list[dict[str, Any]]) -> str:
        cached = self._prompts.get(id(tools))
        if cached is not None and cached[0] is tools:
            return cached[1]
        text = render_tools(tools)
        if len(self._prompts) >= 16:
            self._prompts.clear()
        self._prompts[id(tools)] = (tools, text)  # holding `tools` keeps its id from being reused
        return text

    def messages(self, messages: list[Message], tools: list[dict[str, Any]]) -> list[Message]:
        return to_react_messages(messages, self.tools_prompt(tools))
