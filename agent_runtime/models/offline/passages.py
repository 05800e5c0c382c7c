"""Choosing what to read in a fetched document: the passages that match the question, their prose,
and the API entries (signature and first sentence) they describe."""

from __future__ import annotations

import math
import re

from agent_runtime.models.offline.rendering import one_line
from lambda_tools.text import tokenize

FOCUS_CHARS = 3_000  # the passages of a fetched text that are sent to summarize/extract

_SIGNATURE = re.compile(r"^(\s*)(?:async\s+)?(?:class\s+|\w+ = class\s+)?([A-Za-z_][\w.]*)\(.*\)(?:\s*->\s*\S.*)?$")
_NOT_PROSE = re.compile(r"^\s*([A-Z][A-Z ]+|.*(defined here|inherited from .*):)$")


def focus(text: str, terms: set[str], limit: int = FOCUS_CHARS) -> str:
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


def prose(passage: str) -> str:
    """The passage without API signatures and section headings: what a summary should be made of."""
    lines = [line for line in passage.splitlines() if not _SIGNATURE.match(line) and not _NOT_PROSE.match(line)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def focused_prose(text: str, terms: set[str]) -> str:
    """What is sent to summarize/extract for a fetched text: the prose of its best passages, else its start."""
    return prose(focus(text, terms)) or text[:FOCUS_CHARS]


def api_entries(passage: str, terms: set[str], limit: int = 6) -> list[tuple[str, str]]:
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
        found.append((-hits, i, one_line(line.strip(), 110), one_line(first, 200)))
    return [(sig, doc) for _, _, sig, doc in sorted(found)[:limit]]
