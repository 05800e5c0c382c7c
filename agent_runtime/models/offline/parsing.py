"""Reading the conversation: the task text, and the tool calls made for it with their results.

The planner keeps no state of its own; each step re-reads the messages, so a task resumed
from a checkpoint continues where it stopped. Tool results are read through the output
shapes the catalog documents (`lambda_tools.catalog`, `output_description`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.models.base import Message
from lambda_tools.text import STOP_WORDS

_INSTRUCTION_WORDS = frozenset(
    """write draft create compose prepare produce give make tell explain describe summarize summarise summary
    report research find look please short brief blog post article note notes piece publish publishing
    publication release it me us an a the then and analyse analyze analysis short long quick detailed
    document documentation docs page about regarding""".split()
)
_PUBLISH = re.compile(
    r"\bpublish\w*|\b(?:post|release|share)\s+(?:it|this|that|them|the\s+\w+)\b|\bpost\s+(?:to|on)\b", re.I
)
URL = re.compile(r"https?://[^\s<>\"')\]]+")
"""A web address written in a task."""
FENCE = re.compile(r"```[ \t]*([A-Za-z]*)[ \t]*\n(.*?)\n[ \t]*```", re.S)
"""A fenced code block in a task: group 1 is its language, group 2 its body."""
_TOPIC = re.compile(
    r"\b(?:about|on|regarding|covering|explaining|introducing)\s+(.+?)\s*"
    r"(?:[,.;:!?]|\band\s+(?:then\s+)?(?:publish|post|release|share)\b|\bfor\s+(?:the|our|my)\b|$)",
    re.I,
)


@dataclass
class Call:
    """A tool call made earlier in this task, with its outcome."""

    id: str
    name: str
    args: dict[str, Any]
    ok: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class State:
    """The task being planned and the tool calls made for it so far."""

    task: str
    calls: list[Call]
    turns: int  # assistant turns after the task message

    def of(self, name: str) -> list[Call]:
        """Every call to the tool `name`, in the order they were made."""
        return [c for c in self.calls if c.name == name]

    def ok(self, name: str) -> list[Call]:
        """The calls to the tool `name` that succeeded."""
        return [c for c in self.calls if c.name == name and c.ok]


def message_text(content: Any) -> str:
    """A message's text, whether its content is a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _loads(text: str) -> dict[str, Any] | None:
    """A tool result's JSON; a result the loop truncated is closed and parsed as far as it goes."""
    try:
        value = json.loads(text)
        return value if isinstance(value, dict) else {"value": value}
    except ValueError:
        pass
    body = text.split("... [truncated", 1)[0]
    for trim in range(0, 8):
        head = body[: len(body) - trim] if trim else body
        for closer in ('"}', '"]}', "}", "]}", '"}]}', "}]}"):
            try:
                value = json.loads(head + closer)
            except ValueError:
                continue
            return value if isinstance(value, dict) else None
    return None


def _task_start(messages: list[Message]) -> int:
    """Index of the latest user message that is a task (not the loop's format-error nudge), else -1."""
    for i in range(len(messages) - 1, -1, -1):
        msg = messages[i]
        if msg.get("role") == "user" and not message_text(msg.get("content")).startswith("Format error"):
            return i
    return -1


def read_state(messages: list[Message]) -> State:
    """The task and the tool calls made for it so far (earlier session turns are ignored)."""
    start = _task_start(messages)
    task = message_text(messages[start].get("content")) if start >= 0 else ""
    calls: list[Call] = []
    results: dict[str, str] = {}
    turns = 0
    for msg in messages[start + 1 :]:
        role = msg.get("role")
        if role == "assistant":
            turns += 1
            for part in msg.get("tool_calls") or []:
                fn = part.get("function") or {}
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except ValueError:
                    args = {}
                calls.append(Call(part.get("id", ""), fn.get("name", ""), args if isinstance(args, dict) else {}))
        elif role == "tool":
            results[msg.get("tool_call_id", "")] = message_text(msg.get("content"))
    for call in calls:
        content = results.get(call.id)
        if content is None:
            call.error = "no result"
        elif content.startswith("ERROR:"):
            call.error = content.removeprefix("ERROR:").strip()
        else:
            data = _loads(content)
            call.ok, call.data = data is not None, data or {}
            call.error = None if data is not None else "the result could not be read"
    return State(task=task.strip(), calls=calls, turns=turns)


# -- the task text ---------------------------------------------------------------------------


def wants_publishing(task: str) -> bool:
    """Whether the task asks for the result to be published (publish/post it/release it...)."""
    return bool(_PUBLISH.search(task))


def search_query(task: str) -> str:
    """Search keywords from a task: code blocks, URLs and instruction words removed."""
    text = URL.sub(" ", FENCE.sub(" ", task))[:1000]
    words = re.findall(r"[A-Za-z0-9_][A-Za-z0-9_.'\-]*", text)
    kept = [w.strip(".'-") for w in words if w.lower().strip(".'-") not in _INSTRUCTION_WORDS | STOP_WORDS]
    query = " ".join(w for w in kept if w)[:300].strip()
    return query or " ".join(words)[:300] or "overview"


def topic_of(task: str) -> str:
    """The subject of a writing task ("a post about X, and publish it" -> "X"), else its keywords."""
    match = _TOPIC.search(FENCE.sub(" ", task))
    topic = match.group(1).strip() if match else ""
    return topic[:120] if len(topic) >= 3 else search_query(task)


# -- search and fetch results ----------------------------------------------------------------


@dataclass
class Source:
    """A document (or web page) the answer draws on."""

    key: str  # document id, or the URL of a web page
    title: str
    score: float | None = None
    snippet: str = ""
    text: str = ""
    truncated: bool = False


def search_hits(state: State) -> list[Source]:
    """Search results of this task, best first, each document once."""
    seen: dict[str, Source] = {}
    for call in state.ok("search_documents"):
        for hit in call.data.get("results") or []:
            if isinstance(hit, dict) and hit.get("id") and hit["id"] not in seen:
                seen[hit["id"]] = Source(
                    key=str(hit["id"]), title=str(hit.get("title") or hit["id"]),
                    score=float(hit.get("score") or 0.0), snippet=str(hit.get("snippet") or ""),
                )
    return sorted(seen.values(), key=lambda s: -(s.score or 0.0))


def fetched_sources(state: State, hits: list[Source]) -> list[Source]:
    """The documents and pages fetched in this task, with the search facts (score, snippet) of each."""
    by_key = {h.key: h for h in hits}
    out: list[Source] = []
    for call in state.ok("fetch_document"):
        key = str(call.data.get("id") or call.data.get("url") or call.args.get("document_id") or call.args.get("url"))
        hit = by_key.get(key)
        out.append(Source(
            key=key, title=str(call.data.get("title") or (hit.title if hit else key)),
            score=hit.score if hit else None, snippet=hit.snippet if hit else "",
            text=str(call.data.get("text") or ""), truncated=bool(call.data.get("truncated")),
        ))
    return out
