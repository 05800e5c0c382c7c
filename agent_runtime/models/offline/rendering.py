"""Writing the answer: the offline note, one-line excerpts, citations and the sources list.

Every answer is built only from tool results; a citation is the document id (or URL) in
square brackets, so a reader (or a test) can check each one against the corpus.
"""

from __future__ import annotations

from typing import Any

from agent_runtime.models.offline.parsing import Source

OFFLINE_NOTE = "> Produced offline by the deterministic planner; no LLM was called."
"""The first line of every offline answer, so no one mistakes it for an LLM's."""


def cite(key: str) -> str:
    """The citation of a document id or URL."""
    return f"[{key}]"


def one_line(text: str, limit: int = 220) -> str:
    """`text` on one line, cut at a word boundary (with "...") to at most `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3].rsplit(" ", 1)[0] + "..."


def unprefixed(snippet: str, title: str) -> str:
    """A search snippet without the document title it often starts with (the title is shown anyway)."""
    return snippet[len(title):].lstrip(" .:-") or snippet if snippet.startswith(title) else snippet


def entities_line(data: dict[str, Any], limit: int = 6) -> str:
    """One sentence naming the first entities of an extract_entities result (quantities left out)."""
    entities = [e for e in data.get("entities") or []
                if isinstance(e, dict) and e.get("text") and e.get("type") != "quantity"]
    if not entities:
        return ""
    parts = [f"{one_line(e['text'], 40)} ({e.get('type', '?')}, x{e.get('count', 1)})" for e in entities[:limit]]
    return "Entities found: " + "; ".join(parts) + "."


def sources_list(sources: list[Source], used: set[str]) -> list[str]:
    """The numbered "Sources" section: each source cited, read (in `used`) or only matched, with its score."""
    lines = ["", "### Sources", ""]
    for n, src in enumerate(sources, start=1):
        role = "read and summarised" if src.key in used else "search match"
        score = f", relevance {src.score:.1f}" if src.score is not None else ""
        lines.append(f"{n}. {cite(src.key)} {one_line(src.title, 120)} ({role}{score})")
    return lines


def describe_args(args: dict[str, Any]) -> str:
    """The argument that best identifies a tool call (document, URL, query...), for an error line."""
    for key in ("document_id", "url", "query", "title", "by", "x"):
        if args.get(key):
            return f"{key}={one_line(str(args[key]), 60)}"
    return "..."
