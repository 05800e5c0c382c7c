"""The offline model: a deterministic planner that runs each agent's playbook over the real tools.

It needs no network and no key, so a fresh checkout can run real tasks and the test suite
can drive the whole loop. Each call reads the conversation (the task and the tool results
so far) and decides the next step, so a task resumed from a checkpoint continues where it
stopped. Its answers are built only from tool results, cite the documents used, and say
they were produced offline.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.agents import AgentSpec
from agent_runtime.events import Usage
from agent_runtime.models.base import Message, ModelReply, ToolCall
from lambda_tools.schema import DOC_ID_PATTERN
from lambda_tools.text import STOP_WORDS, tokenize

OFFLINE_NOTE = "> Produced offline by the deterministic planner; no LLM was called."
FETCH_CHARS = 10_000  # keeps a fetched document's JSON under the loop's observation limit (12,000)
FOCUS_CHARS = 3_000  # the passages of a fetched text that are sent to summarize/extract
MAX_READ = 3  # documents read (fetched or summarised) per task

_INSTRUCTION_WORDS = frozenset(
    """write draft create compose prepare produce give make tell explain describe summarize summarise summary
    report research find look please short brief blog post article note notes piece publish publishing
    publication release it me us an a the then and analyse analyze analysis short long quick detailed
    document documentation docs page about regarding""".split()
)
_PUBLISH = re.compile(
    r"\bpublish\w*|\b(?:post|release|share)\s+(?:it|this|that|them|the\s+\w+)\b|\bpost\s+(?:to|on)\b", re.I
)
_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_FENCE = re.compile(r"```[ \t]*([A-Za-z]*)[ \t]*\n(.*?)\n[ \t]*```", re.S)
_DATA_FILE = re.compile(r"(?<![\w/.\-])([A-Za-z0-9_][\w.\-]*(?:/[A-Za-z0-9_][\w.\-]*)*\.(?:csv|json))\b", re.I)
_DOC_ID = re.compile(DOC_ID_PATTERN)
_NUMERIC_TYPES = frozenset({"number", "numeric", "int", "integer", "float"})
_DATE_TYPES = frozenset({"date", "datetime", "time", "timestamp"})
_MEASURE_NAMES = re.compile(r"revenue|sales|amount|total|price|cost|profit|income|value|score", re.I)
_ORDER_NAMES = re.compile(r"^(year|month|week|day|date|time|period|quarter|t|x|index|step)$", re.I)


# -- reading the conversation ----------------------------------------------------------------


@dataclass
class _Call:
    """A tool call made earlier in this task, with its outcome."""

    id: str
    name: str
    args: dict[str, Any]
    ok: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class _State:
    task: str
    calls: list[_Call]
    turns: int  # assistant turns after the task message

    def of(self, name: str) -> list[_Call]:
        return [c for c in self.calls if c.name == name]

    def ok(self, name: str) -> list[_Call]:
        return [c for c in self.calls if c.name == name and c.ok]


def _text(content: Any) -> str:
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


def read_state(messages: list[Message]) -> _State:
    """The task and the tool calls made for it so far (earlier session turns are ignored)."""
    start = -1
    for i in range(len(messages) - 1, -1, -1):
        msg = messages[i]
        if msg.get("role") == "user" and not _text(msg.get("content")).startswith("Format error"):
            start = i
            break
    task = _text(messages[start].get("content")) if start >= 0 else ""
    calls: list[_Call] = []
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
                calls.append(_Call(part.get("id", ""), fn.get("name", ""), args if isinstance(args, dict) else {}))
        elif role == "tool":
            results[msg.get("tool_call_id", "")] = _text(msg.get("content"))
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
    return _State(task=task.strip(), calls=calls, turns=turns)


# -- small helpers ---------------------------------------------------------------------------


def wants_publishing(task: str) -> bool:
    """Whether the task asks for the result to be published (publish/post it/release it...)."""
    return bool(_PUBLISH.search(task))


def search_query(task: str) -> str:
    """Search keywords from a task: code blocks, URLs and instruction words removed."""
    text = _URL.sub(" ", _FENCE.sub(" ", task))[:1000]
    words = re.findall(r"[A-Za-z0-9_][A-Za-z0-9_.'\-]*", text)
    kept = [w.strip(".'-") for w in words if w.lower().strip(".'-") not in _INSTRUCTION_WORDS | STOP_WORDS]
    query = " ".join(w for w in kept if w)[:300].strip()
    return query or " ".join(words)[:300] or "overview"


_TOPIC = re.compile(
    r"\b(?:about|on|regarding|covering|explaining|introducing)\s+(.+?)\s*"
    r"(?:[,.;:!?]|\band\s+(?:then\s+)?(?:publish|post|release|share)\b|\bfor\s+(?:the|our|my)\b|$)",
    re.I,
)


def topic_of(task: str) -> str:
    """The subject of a writing task ("a post about X, and publish it" -> "X"), else its keywords."""
    match = _TOPIC.search(_FENCE.sub(" ", task))
    topic = match.group(1).strip() if match else ""
    return topic[:120] if len(topic) >= 3 else search_query(task)


def _focus(text: str, terms: set[str], limit: int = FOCUS_CHARS) -> str:
    """The paragraphs of `text` that best match the query terms, in their original order, within `limit`.

    A term found in most paragraphs of the text (the module's own name, say) says little about
    any one of them, so terms are weighted by how rare they are within the text.
    """
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if paragraphs and "\n" not in paragraphs[0] and len(paragraphs) > 1:
        paragraphs = paragraphs[1:]  # the title line: already shown as the section heading
    found = [terms & set(tokenize(p)) for p in paragraphs]
    df: dict[str, int] = {}
    for hits in found:
        for term in hits:
            df[term] = df.get(term, 0) + 1
    n = len(paragraphs)
    scored = sorted(
        (-sum(math.log(1 + n / df[t]) for t in hits), i) for i, hits in enumerate(found) if hits
    )
    if not scored:
        return "\n\n".join(paragraphs)[:limit].strip()
    chosen: list[int] = []
    used = 0
    for _, i in scored:
        size = len(paragraphs[i]) + 2
        if used + size <= limit:
            chosen.append(i)
            used += size
    if not chosen:  # the best paragraph alone is too long
        return paragraphs[scored[0][1]][:limit]
    return "\n\n".join(paragraphs[i] for i in sorted(chosen))


_SIGNATURE = re.compile(r"^(\s*)(?:async\s+)?(?:class\s+|\w+ = class\s+)?([A-Za-z_][\w.]*)\(.*\)(?:\s*->\s*\S.*)?$")
_NOT_PROSE = re.compile(r"^\s*([A-Z][A-Z ]+|.*(defined here|inherited from .*):)$")


def _prose(passage: str) -> str:
    """The passage without API signatures and section headings: what a summary should be made of."""
    lines = [line for line in passage.splitlines() if not _SIGNATURE.match(line) and not _NOT_PROSE.match(line)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _api_entries(passage: str, terms: set[str], limit: int = 6) -> list[tuple[str, str]]:
    """(signature, first sentence of its description) of the API entries in a passage that match the
    query best (most query terms in the name and description), best first."""
    lines = passage.splitlines()
    found: list[tuple[int, int, str, str]] = []
    for i, line in enumerate(lines):
        match = _SIGNATURE.match(line)
        if not match or match.group(2).startswith("_"):
            continue
        indent = len(match.group(1))
        doc: list[str] = []
        for follow in lines[i + 1 :]:
            if not follow.strip() or len(follow) - len(follow.lstrip()) <= indent:
                break
            doc.append(follow.strip())
        first = re.split(r"(?<=[.!?])\s", " ".join(doc), maxsplit=1)[0] if doc else ""
        hits = len(terms & set(tokenize(f"{match.group(2).replace('_', ' ')} {' '.join(doc)}")))
        found.append((-hits, i, _one_line(line.strip(), 110), _one_line(first, 200)))
    return [(sig, doc) for _, _, sig, doc in sorted(found)[:limit]]


def _unprefixed(snippet: str, title: str) -> str:
    """A search snippet without the document title it often starts with (the title is shown anyway)."""
    return snippet[len(title):].lstrip(" .:-") or snippet if snippet.startswith(title) else snippet


def _cite(key: str) -> str:
    return f"[{key}]"


def _one_line(text: str, limit: int = 220) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3].rsplit(" ", 1)[0] + "..."


def _usage(messages: list[Message], tools: list[dict[str, Any]], reply: ModelReply) -> Usage:
    """Rough token counts (4 characters a token) so budgets and displays behave as with a real model."""
    chars = len(json.dumps(tools)) if tools else 0
    for msg in messages:
        chars += len(_text(msg.get("content"))) + 8
        for part in msg.get("tool_calls") or []:
            chars += len((part.get("function") or {}).get("arguments") or "") + 16
    out = len(reply.text) + sum(len(c.arguments) + len(c.name) for c in reply.tool_calls)
    return Usage(prompt_tokens=max(1, chars // 4), completion_tokens=max(1, out // 4))


@dataclass
class _Source:
    """A document (or web page) the answer draws on."""

    key: str  # document id, or the URL of a web page
    title: str
    score: float | None = None
    snippet: str = ""
    text: str = ""
    truncated: bool = False


def _hits(state: _State) -> list[_Source]:
    """Search results of this task, best first, each document once."""
    seen: dict[str, _Source] = {}
    for call in state.ok("search_documents"):
        for hit in call.data.get("results") or []:
            if isinstance(hit, dict) and hit.get("id") and hit["id"] not in seen:
                seen[hit["id"]] = _Source(
                    key=str(hit["id"]), title=str(hit.get("title") or hit["id"]),
                    score=float(hit.get("score") or 0.0), snippet=str(hit.get("snippet") or ""),
                )
    return sorted(seen.values(), key=lambda s: -(s.score or 0.0))


def _best(hits: list[_Source], limit: int = MAX_READ) -> list[_Source]:
    """The hits worth reading: the best one, and the next ones scoring at least 40% of it."""
    if not hits:
        return []
    top = hits[0].score or 0.0
    chosen = [h for h in hits[:limit] if (h.score or 0.0) >= 0.4 * top]
    return chosen if len(chosen) >= min(2, len(hits)) else hits[: min(2, len(hits))]


def _fetched(state: _State, hits: list[_Source]) -> list[_Source]:
    by_key = {h.key: h for h in hits}
    out: list[_Source] = []
    for call in state.ok("fetch_document"):
        key = str(call.data.get("id") or call.data.get("url") or call.args.get("document_id") or call.args.get("url"))
        hit = by_key.get(key)
        out.append(_Source(
            key=key, title=str(call.data.get("title") or (hit.title if hit else key)),
            score=hit.score if hit else None, snippet=hit.snippet if hit else "",
            text=str(call.data.get("text") or ""), truncated=bool(call.data.get("truncated")),
        ))
    return out


def _entities_line(data: dict[str, Any], limit: int = 6) -> str:
    entities = [e for e in data.get("entities") or []
                if isinstance(e, dict) and e.get("text") and e.get("type") != "quantity"]
    if not entities:
        return ""
    parts = [f"{_one_line(e['text'], 40)} ({e.get('type', '?')}, x{e.get('count', 1)})" for e in entities[:limit]]
    return "Entities found: " + "; ".join(parts) + "."


def _sources_list(sources: list[_Source], used: set[str]) -> list[str]:
    lines = ["", "### Sources", ""]
    for n, src in enumerate(sources, start=1):
        role = "read and summarised" if src.key in used else "search match"
        score = f", relevance {src.score:.1f}" if src.score is not None else ""
        lines.append(f"{n}. {_cite(src.key)} {_one_line(src.title, 120)} ({role}{score})")
    return lines


# -- the model -------------------------------------------------------------------------------


class OfflineModel:
    """A deterministic, network-free model that follows the agent's playbook (see module docstring)."""

    name = "offline"
    offline = True

    def __init__(self, agent: AgentSpec) -> None:
        self.agent = agent
        playbooks: dict[str, Callable[[_Plan], ModelReply]] = {
            "research": _research, "content": _content, "analysis": _analysis,
        }
        self._playbook = playbooks.get(agent.name, _research)

    async def complete(self, messages: list[Message], tools: list[dict[str, Any]]) -> ModelReply:
        """The next step of the playbook for this conversation."""
        names = {t.get("function", {}).get("name") for t in tools or []}
        plan = _Plan(read_state(messages), {n for n in names if n}, self.agent)
        reply = self._playbook(plan)
        reply.usage = _usage(messages, tools, reply)
        reply.cost_usd = 0.0
        return reply

    async def aclose(self) -> None:
        return None


class _Plan:
    """One planning step: the state read from the conversation, and how to emit calls or the answer."""

    def __init__(self, state: _State, tools: set[str], agent: AgentSpec) -> None:
        self.state = state
        self.tools = tools
        self.agent = agent
        self.query = search_query(state.task)
        self.terms = set(tokenize(self.query))

    def can(self, tool: str) -> bool:
        return tool in self.tools

    def calls(self, thought: str, calls: list[tuple[str, dict[str, Any]]]) -> ModelReply:
        step = self.state.turns + 1
        tool_calls = [
            ToolCall(f"call_{step}_{n}", name, json.dumps(args, ensure_ascii=False))
            for n, (name, args) in enumerate(calls, start=1)
        ]
        return ModelReply(text=thought, tool_calls=tool_calls)

    def answer(self, lines: list[str]) -> ModelReply:
        text = "\n".join([OFFLINE_NOTE, "", *lines]).strip() + "\n"
        return ModelReply(text=re.sub(r"\n{3,}", "\n\n", text))

    def heading(self) -> str:
        return f"## {_one_line(self.state.task, 160)}"

    def failures(self, *names: str) -> list[str]:
        failed = [c for c in self.state.calls if c.name in names and not c.ok]
        if not failed:
            return []
        lines = ["", "### Tool errors (those branches were skipped)", ""]
        for call in failed:
            lines.append(f"- `{call.name}` ({_describe_args(call.args)}): {_one_line(call.error or '', 200)}")
        return lines


def _describe_args(args: dict[str, Any]) -> str:
    for key in ("document_id", "url", "query", "title", "by", "x"):
        if args.get(key):
            return f"{key}={_one_line(str(args[key]), 60)}"
    return "..."


# -- research: search -> fetch (parallel) -> summarize + extract (parallel) -> answer ---------


def _research(plan: _Plan) -> ModelReply:
    state = plan.state
    if not state.task:
        return plan.answer(["There is no task to research: the task text is empty."])
    urls = list(dict.fromkeys(_URL.findall(state.task)))[:MAX_READ]
    if not state.of("search_documents") and not state.of("fetch_document"):
        calls: list[tuple[str, dict[str, Any]]] = []
        if plan.can("search_documents"):
            calls.append(("search_documents", {"query": plan.query, "limit": 6}))
        if plan.can("fetch_document"):
            calls += [("fetch_document", {"url": u, "max_chars": FETCH_CHARS}) for u in urls]
        if calls:
            thought = f"Searching the corpus for: {plan.query}"
            if urls:
                thought += f" (and reading {len(urls)} linked page{'s' if len(urls) > 1 else ''})"
            return plan.calls(thought, calls)

    hits = _hits(state)
    fetched_ids = {c.args.get("document_id") for c in state.of("fetch_document") if c.args.get("document_id")}
    if hits and not fetched_ids and plan.can("fetch_document"):
        chosen = _best(hits)
        return plan.calls(
            f"Reading the {len(chosen)} best matches: {', '.join(h.key for h in chosen)}.",
            [("fetch_document", {"document_id": h.key, "max_chars": FETCH_CHARS}) for h in chosen],
        )

    sources = [s for s in _fetched(state, hits) if s.text.strip()]
    analysed = state.of("summarize_document") + state.of("extract_entities")
    if sources and not analysed and (plan.can("summarize_document") or plan.can("extract_entities")):
        calls = []
        for src in sources:
            prose = _prose(_focus(src.text, plan.terms)) or src.text[:FOCUS_CHARS]
            if plan.can("summarize_document"):
                calls.append(("summarize_document", {"text": prose, "max_length": 600}))
            if plan.can("extract_entities"):
                calls.append(("extract_entities", {"text": prose, "max_entities": 20}))
        return plan.calls(
            "Summarising the passages of each document that match the question, and extracting their "
            "entities, in parallel.", calls,
        )
    return plan.answer(_research_report(plan, hits, sources))


def _by_passage(plan: _Plan, sources: list[_Source], tool: str) -> dict[str, dict[str, Any]]:
    """Each source's result from `tool`, matched by the passage that was sent for it."""
    passages = {(_prose(_focus(src.text, plan.terms)) or src.text[:FOCUS_CHARS]): src.key for src in sources}
    out: dict[str, dict[str, Any]] = {}
    for call in plan.state.ok(tool):
        key = passages.get(str(call.args.get("text", "")))
        if key is not None:
            out[key] = call.data
    return out


def _research_report(plan: _Plan, hits: list[_Source], sources: list[_Source]) -> list[str]:
    lines = [plan.heading(), ""]
    if not hits and not sources:
        failed = plan.failures("search_documents", "fetch_document")
        if failed:
            return [*lines, "The search could not be run, so there is nothing to report.", *failed]
        return [*lines, f"No document in the corpus matched the search for \u201c{plan.query}\u201d. "
                "Try other keywords, or point `--docs` at a folder with relevant documents."]
    summaries = _by_passage(plan, sources, "summarize_document")
    entities = _by_passage(plan, sources, "extract_entities")
    if sources:
        lines += [f"What the {len(sources)} most relevant document{'s' if len(sources) > 1 else ''} say, "
                  "quoted or condensed from each source cited.", ""]
    for n, src in enumerate(sources, start=1):
        lines += [f"### {n}. {_one_line(src.title, 140)} {_cite(src.key)}", ""]
        summary = summaries.get(src.key) or {}
        sentences = [str(s) for s in summary.get("sentences") or [] if len(str(s).split()) >= 4]
        passage = _focus(src.text, plan.terms)
        if sentences:
            lines += [_one_line(" ".join(sentences), 900) + f" {_cite(src.key)}", ""]
        entries = _api_entries(passage, plan.terms)
        if entries:
            lines += ["Relevant entries:", ""]
            lines += [f"- `{sig}`" + (f": {doc}" if doc else "") + f" {_cite(src.key)}" for sig, doc in entries]
            lines.append("")
        if not sentences and not entries:  # nothing condensed: quote the best matching passage
            lines += [f"> {_one_line(passage, 600)} {_cite(src.key)}", ""]
        ent = _entities_line(entities.get(src.key) or {})
        if ent:
            lines += [ent, ""]
        if src.truncated:
            lines += [f"(Only the first {len(src.text):,} characters of {src.key} were read.)", ""]
    read = {s.key for s in sources}
    others = [h for h in hits if h.key not in read][:4]
    if others:
        lines += ["### Other matching documents", ""]
        lines += [f"- {_cite(h.key)} {_one_line(h.title, 100)}: {_one_line(_unprefixed(h.snippet, h.title), 200)}"
                  for h in others]
    if not sources:
        lines += ["", "None of the matching documents could be read, so only the search results are listed."]
    listed = sources + [h for h in hits if h.key not in read][:4]
    lines += _sources_list(listed, read)
    lines += plan.failures("search_documents", "fetch_document", "summarize_document", "extract_entities")
    return lines


# -- content: search -> summarize (parallel) -> draft -> publish when asked -> answer -------------


def _content(plan: _Plan) -> ModelReply:
    state = plan.state
    if not state.task:
        return plan.answer(["There is nothing to write: the task text is empty."])
    if not state.of("search_documents") and plan.can("search_documents"):
        return plan.calls(f"Gathering material: searching the corpus for: {plan.query}",
                          [("search_documents", {"query": plan.query, "limit": 5})])
    hits = _hits(state)
    if hits and not state.of("summarize_document") and plan.can("summarize_document"):
        chosen = _best(hits)
        return plan.calls(
            f"Summarising the {len(chosen)} best sources: {', '.join(h.key for h in chosen)}.",
            [("summarize_document", {"document_id": h.key, "max_length": 600}) for h in chosen],
        )
    publish = wants_publishing(state.task)
    published = state.of("publish_report")
    draft_title, draft = _draft(plan, hits)
    if publish and hits and not published and plan.can("publish_report"):
        return plan.calls(
            f"The draft \u201c{draft_title}\u201d is ready; publishing it as the task asks (needs approval).",
            [("publish_report", {"title": draft_title, "markdown": draft})],
        )
    lines: list[str] = []
    if published:
        call = published[-1]
        draft = str(call.args.get("markdown") or draft)  # the text that was actually sent
        if call.ok:
            where = call.data.get("location") or call.data.get("key") or "the reports store"
            again = " (it had already been published by an earlier attempt)" if call.data.get("already_published") else ""
            lines += [f"**Published** to `{where}`{again}.", ""]
        else:
            lines += [f"**Not published**: {_one_line(call.error or 'unknown error', 300)}", ""]
    elif publish and not hits:
        lines += ["**Not published**: no material was found, so there was nothing worth publishing.", ""]
    elif publish and not plan.can("publish_report"):
        lines += ["**Not published**: this agent has no publish_report tool.", ""]
    lines += ["---", "", draft]
    lines += plan.failures("search_documents", "summarize_document")
    return plan.answer(lines)


def _draft(plan: _Plan, hits: list[_Source]) -> tuple[str, str]:
    """The Markdown piece, written from the summaries (or search snippets) of the best sources."""
    topic = topic_of(plan.state.task)
    title = _one_line(topic, 90)
    title = title[:1].upper() + title[1:]
    if not hits:
        body = [f"# {title}", "", f"No document in the corpus matched \u201c{plan.query}\u201d, so there is no "
                "material to draft from."]
        return title, "\n".join(body) + "\n"
    summaries = {str(c.args.get("document_id")): c.data for c in plan.state.ok("summarize_document")}
    used = [h for h in _best(hits) if h.key in summaries] or _best(hits)
    lines = [f"# {title}", "",
             f"What the documentation says about {topic}, drawn from {len(used)} source"
             f"{'s' if len(used) > 1 else ''}: " + ", ".join(_cite(h.key) for h in used) + ".", ""]
    for hit in used:
        summary = summaries.get(hit.key) or {}
        text = str(summary.get("summary") or hit.snippet or "")
        lines += [f"## {_one_line(hit.title, 120)}", "", f"{_one_line(text, 1200)} {_cite(hit.key)}", ""]
    lines += ["## Sources", ""]
    lines += [f"- {_cite(h.key)} {_one_line(h.title, 120)}" for h in used]
    lines += ["", "_Drafted offline by the deterministic planner from the document corpus; no LLM was called._"]
    return title, "\n".join(lines) + "\n"


# -- analysis: load -> describe -> group/correlate/trend (parallel) -> publish when asked -> answer


@dataclass(frozen=True)
class _DataSource:
    args: dict[str, Any]  # {"data": ..., "format": ...} or {"document_id": ...}
    label: str  # how the answer cites it


def inline_data(task: str) -> tuple[str, str] | None:
    """CSV or JSON data written in the task (a fenced block, a JSON array, or comma-separated lines)."""
    for match in _FENCE.finditer(task):
        lang, body = match.group(1).lower(), match.group(2).strip()
        if lang in ("csv", "json") and body:
            return body, lang
        if body.startswith(("[", "{")):
            return body, "json"
        if _looks_like_csv(body.splitlines()):
            return body, "csv"
    array = re.search(r"\[\s*\{.*\}\s*\]", task, re.S)
    if array:
        try:
            json.loads(array.group())
            return array.group(), "json"
        except ValueError:
            pass
    lines = task.splitlines()
    best: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if line.count(",") >= 1 and (not run or line.count(",") == run[0].count(",")):
            run.append(line.strip())
            continue
        if len(run) > len(best):
            best = run
        run = [line.strip()] if line.count(",") >= 1 else []
    return ("\n".join(best), "csv") if _looks_like_csv(best) else None


def _looks_like_csv(lines: list[str]) -> bool:
    rows = [line for line in lines if line.strip()]
    return len(rows) >= 3 and len({row.count(",") for row in rows}) == 1 and rows[0].count(",") >= 1


def _data_source(task: str) -> _DataSource | None:
    inline = inline_data(task)
    if inline is not None:
        return _DataSource({"data": inline[0], "format": inline[1]}, "the data given in the task")
    for match in _DATA_FILE.finditer(task):
        if _DOC_ID.match(match.group(1)):
            return _DataSource({"document_id": match.group(1)}, _cite(match.group(1)))
    return None


def _source_of(call: _Call) -> _DataSource:
    if "document_id" in call.args:
        return _DataSource({"document_id": call.args["document_id"]}, _cite(str(call.args["document_id"])))
    return _DataSource({k: call.args[k] for k in ("data", "format") if k in call.args}, "the data given in the task")


def _ops(call: _Call) -> list[str]:
    return [str(op.get("op")) for op in call.args.get("operations") or [] if isinstance(op, dict)]


def _analysis(plan: _Plan) -> ModelReply:
    state = plan.state
    if not state.task:
        return plan.answer(["There is nothing to analyse: the task text is empty."])
    if not plan.can("analyze_data"):
        return plan.answer([plan.heading(), "", "This agent has no analyze_data tool, so it cannot analyse data."])
    loads = [c for c in state.of("analyze_data") if _ops(c) == ["describe"]]
    source = _data_source(state.task)
    if not loads:
        if source is not None:
            return plan.calls(f"Loading and describing {source.label}.",
                              [("analyze_data", {**source.args, "operations": [{"op": "describe"}]})])
        if not state.of("search_documents") and plan.can("search_documents"):
            return plan.calls(f"No data in the task; searching the corpus for a data file about: {plan.query}",
                              [("search_documents", {"query": plan.query, "limit": 5})])
        candidates = _data_candidates(_hits(state))
        if candidates:
            return plan.calls(
                f"Trying the data files the search points to: {', '.join(candidates)}.",
                [("analyze_data", {"document_id": c, "operations": [{"op": "describe"}]}) for c in candidates],
            )
        return plan.answer([plan.heading(), "", "No data to analyse: the task has no CSV or JSON block, names no "
                            ".csv/.json document, and the search found no data file.", "",
                            "Give the data inline (a ```csv block) or name a document such as `data/sales.csv`.",
                            *plan.failures("search_documents")])
    loaded = next((c for c in loads if c.ok), None)
    if loaded is None:
        return plan.answer([plan.heading(), "", "The data could not be loaded.", *plan.failures("analyze_data")])
    data_source = _source_of(loaded)
    followups = [c for c in state.of("analyze_data") if _ops(c) != ["describe"]]
    if not followups:
        ops = _plan_operations(loaded.data, plan.state.task)
        if ops:
            return plan.calls(
                "Running " + ", ".join(op["op"] for op in ops) + " on the columns that allow it, in parallel.",
                [("analyze_data", {**data_source.args, "operations": [op]}) for op in ops],
            )
    report = _analysis_report(plan, loaded, followups, data_source)
    published = state.of("publish_report")
    if wants_publishing(state.task) and plan.can("publish_report") and not published:
        title = _one_line(f"Analysis: {plan.query}", 120)
        return plan.calls("The analysis is ready; publishing it as the task asks (needs approval).",
                          [("publish_report", {"title": title, "markdown": "\n".join(report) + "\n"})])
    head: list[str] = []
    if published:
        call = published[-1]
        if call.ok:
            head = [f"**Published** to `{call.data.get('location') or call.data.get('key')}`.", ""]
        else:
            head = [f"**Not published**: {_one_line(call.error or 'unknown error', 300)}", ""]
    return plan.answer([*head, *report])


def _data_candidates(hits: list[_Source]) -> list[str]:
    names: list[str] = []
    for hit in hits:
        names += [m.group(1) for m in _DATA_FILE.finditer(f"{hit.key} {hit.title} {hit.snippet}")]
    return [n for n in dict.fromkeys(names) if _DOC_ID.match(n)][:MAX_READ]


def _columns(loaded: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(numeric, date, categorical) column names of a loaded table; categorical ones with few distinct
    values (good to group on) first."""
    numeric: list[str] = []
    dates: list[str] = []
    other: list[str] = []
    for col in loaded.get("columns") or []:
        if not isinstance(col, dict) or not col.get("name"):
            continue
        kind = str(col.get("type", "")).lower()
        target = numeric if kind in _NUMERIC_TYPES else dates if kind in _DATE_TYPES else other
        target.append(str(col["name"]))
    described = _result_of_data(loaded, "describe").get("other_columns") or {}
    unique: dict[str, int | None] = {name: (described.get(name) or {}).get("unique") for name in other}
    groupable = sorted((n for n in other if 2 <= (unique[n] or 0) <= 50), key=lambda n: unique[n] or 0)
    return numeric, dates, groupable + [n for n in other if n not in groupable and unique[n] is None]


def _mentioned(names: list[str], task: str) -> list[str]:
    """`names` ordered: named in the task first, then usual measures (revenue, price...), then the rest."""
    words = set(re.findall(r"[\w.\-]+", task.lower()))
    return sorted(names, key=lambda n: (n.lower() not in words, not _MEASURE_NAMES.search(n)))


def _plan_operations(loaded: dict[str, Any], task: str) -> list[dict[str, Any]]:
    """group_by, correlation and trend, as the columns allow; columns named in the task come first."""
    numeric, dates, groupable = _columns(loaded)
    numeric, groupable = _mentioned(numeric, task), _mentioned(groupable, task)
    ops: list[dict[str, Any]] = []
    order = dates[:1] or [n for n in numeric if _ORDER_NAMES.match(n)][:1]
    measures = [n for n in numeric if n not in order]
    if groupable and measures:
        agg = "sum" if re.search(r"\b(total|totals|sum)\b", task, re.I) else "mean"
        ops.append({"op": "group_by", "by": groupable[0], "column": measures[0], "agg": agg})
    elif groupable:
        ops.append({"op": "group_by", "by": groupable[0], "agg": "count"})
    if len(numeric) >= 2:
        ops.append({"op": "correlation"})
    if order and measures:
        ops.append({"op": "trend", "x": order[0], "y": measures[0]})
    return ops


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return "" if value is None else str(value)


def _result_of_data(data: dict[str, Any], op: str) -> dict[str, Any]:
    for result in data.get("results") or []:
        if isinstance(result, dict) and result.get("op") == op:
            return result
    return {}


def _result_of(call: _Call, op: str) -> dict[str, Any]:
    return _result_of_data(call.data, op)


def _analysis_report(plan: _Plan, loaded: _Call, followups: list[_Call], source: _DataSource) -> list[str]:
    data = loaded.data
    columns = [c for c in data.get("columns") or [] if isinstance(c, dict)]
    described = ", ".join(f"{c.get('name')} ({c.get('type')})" for c in columns)
    lines = [plan.heading(), "",
             f"Data: {source.label}, {data.get('rows', '?')} rows, {len(columns)} columns: {described}.", ""]
    lines += _describe_table(_result_of(loaded, "describe"), source.label)
    for call in followups:
        if not call.ok:
            continue
        for op in _ops(call):
            result = _result_of(call, op)
            renderer = {"group_by": _group_lines, "correlation": _correlation_lines, "trend": _trend_lines}.get(op)
            if result and renderer:
                lines += renderer(result, call, source.label)
    lines += ["", "### Sources", "", f"- {source.label}: analysed with analyze_data (describe"
              + "".join(f", {op}" for c in followups if c.ok for op in _ops(c)) + ")"]
    lines += plan.failures("analyze_data", "search_documents")
    return lines


def _describe_table(result: dict[str, Any], label: str) -> list[str]:
    stats = result.get("stats") or {}
    lines: list[str] = []
    if isinstance(stats, dict) and stats:
        keys = ("count", "mean", "std", "min", "median", "max")
        lines += [f"### Summary statistics ({label})", "", "| column | " + " | ".join(keys) + " |",
                  "|---|" + "---:|" * len(keys)]
        for name, row in stats.items():
            if isinstance(row, dict):
                lines.append(f"| {name} | " + " | ".join(_fmt(row.get(k)) for k in keys) + " |")
        lines.append("")
    others = result.get("other_columns") or {}
    if isinstance(others, dict) and others:
        lines += [f"- {name}: {info.get('unique')} distinct values, most often {info.get('top')!r} "
                  f"({info.get('top_count')} rows)" for name, info in others.items()
                  if isinstance(info, dict) and info.get("type") == "text"]
        lines.append("")
    return lines


def _group_lines(result: dict[str, Any], call: _Call, label: str) -> list[str]:
    by, column, agg = result.get("by"), result.get("column"), result.get("agg", "mean")
    value_key = f"{agg}_{column}" if column else agg
    header = f"{agg} of {column} by {by}" if column else f"rows by {by}"
    lines = [f"### {header} ({label})", "", f"| {by} | {value_key} | rows |", "|---|---:|---:|"]
    for group in (result.get("groups") or [])[:30]:
        if isinstance(group, dict):
            lines.append(f"| {_fmt(group.get(by))} | {_fmt(group.get(value_key))} | {_fmt(group.get('rows'))} |")
    if result.get("truncated"):
        lines.append(f"| ... | ({result.get('group_count')} groups in all) | |")
    return [*lines, ""]


def _correlation_lines(result: dict[str, Any], call: _Call, label: str) -> list[str]:
    pairs = [p for p in result.get("strongest") or [] if isinstance(p, dict) and p.get("r") is not None]
    if not pairs:
        return []
    lines = [f"### Correlations ({label})", ""]
    for p in pairs[:8]:
        strength = "strong" if abs(p["r"]) >= 0.7 else "moderate" if abs(p["r"]) >= 0.4 else "weak"
        lines.append(f"- {p['a']} and {p['b']}: r = {p['r']:+.3f} ({strength}, {p.get('n', '?')} rows)")
    return [*lines, ""]


def _trend_lines(result: dict[str, Any], call: _Call, label: str) -> list[str]:
    x, y, slope = result.get("x"), result.get("y"), result.get("slope")
    if slope is None:
        return []
    unit = result.get("x_unit")
    per = f"per {unit[:-1] if unit and unit.endswith('s') else unit}" if unit else f"per unit of {x}"
    line = f"- {y} is {result.get('direction', 'changing')}: {_fmt(slope)} {per}"
    if result.get("slope_per_year") is not None:
        line += f" ({_fmt(result['slope_per_year'])} per year)"
    line += f", fitted over {result.get('n', '?')} rows"
    if result.get("r2") is not None:
        line += f" (r\u00b2 = {_fmt(result['r2'])})"
    return [f"### Trend of {y} over {x} ({label})", "", line + ".", ""]
