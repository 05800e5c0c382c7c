"""The research playbook: search -> fetch (parallel) -> summarize + extract (parallel) -> cited report."""

from __future__ import annotations

from typing import Any

from agent_runtime.models.base import ModelReply
from agent_runtime.models.offline.parsing import URL, Source, fetched_sources, search_hits
from agent_runtime.models.offline.passages import api_entries, focus, focused_prose
from agent_runtime.models.offline.plan import MAX_READ, Plan, best_hits
from agent_runtime.models.offline.rendering import cite, entities_line, one_line, sources_list, unprefixed

FETCH_CHARS = 10_000  # keeps a fetched document's JSON under the loop's observation limit (12,000)


def research(plan: Plan) -> ModelReply:
    """The next research step: the first call not yet made, or the report once every step is done."""
    state = plan.state
    if not state.task:
        return plan.answer(["There is no task to research: the task text is empty."])
    urls = list(dict.fromkeys(URL.findall(state.task)))[:MAX_READ]
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

    hits = search_hits(state)
    fetched_ids = {c.args.get("document_id") for c in state.of("fetch_document") if c.args.get("document_id")}
    if hits and not fetched_ids and plan.can("fetch_document"):
        chosen = best_hits(hits)
        return plan.calls(
            f"Reading the {len(chosen)} best matches: {', '.join(h.key for h in chosen)}.",
            [("fetch_document", {"document_id": h.key, "max_chars": FETCH_CHARS}) for h in chosen],
        )

    sources = [s for s in fetched_sources(state, hits) if s.text.strip()]
    analysed = state.of("summarize_document") + state.of("extract_entities")
    if sources and not analysed and (plan.can("summarize_document") or plan.can("extract_entities")):
        calls = []
        for src in sources:
            passage = focused_prose(src.text, plan.terms)
            if plan.can("summarize_document"):
                calls.append(("summarize_document", {"text": passage, "max_length": 600}))
            if plan.can("extract_entities"):
                calls.append(("extract_entities", {"text": passage, "max_entities": 20}))
        return plan.calls(
            "Summarising the passages of each document that match the question, and extracting their "
            "entities, in parallel.", calls,
        )
    return plan.answer(_report(plan, hits, sources))


def _by_passage(plan: Plan, sources: list[Source], tool: str) -> dict[str, dict[str, Any]]:
    """Each source's result from `tool`, matched by the passage that was sent for it."""
    passages = {focused_prose(src.text, plan.terms): src.key for src in sources}
    out: dict[str, dict[str, Any]] = {}
    for call in plan.state.ok(tool):
        key = passages.get(str(call.args.get("text", "")))
        if key is not None:
            out[key] = call.data
    return out


def _source_section(plan: Plan, n: int, src: Source, summary: dict[str, Any], entities: dict[str, Any]) -> list[str]:
    """The report's section on one document read: its summary, matching API entries and entities."""
    lines = [f"### {n}. {one_line(src.title, 140)} {cite(src.key)}", ""]
    sentences = [str(s) for s in summary.get("sentences") or [] if len(str(s).split()) >= 4]
    passage = focus(src.text, plan.terms)
    if sentences:
        lines += [one_line(" ".join(sentences), 900) + f" {cite(src.key)}", ""]
    entries = api_entries(passage, plan.terms)
    if entries:
        lines += ["Relevant entries:", ""]
        lines += [f"- `{sig}`" + (f": {doc}" if doc else "") + f" {cite(src.key)}" for sig, doc in entries]
        lines.append("")
    if not sentences and not entries:  # nothing condensed: quote the best matching passage
        lines += [f"> {one_line(passage, 600)} {cite(src.key)}", ""]
    ent = entities_line(entities)
    if ent:
        lines += [ent, ""]
    if src.truncated:
        lines += [f"(Only the first {len(src.text):,} characters of {src.key} were read.)", ""]
    return lines


def _report(plan: Plan, hits: list[Source], sources: list[Source]) -> list[str]:
    """The research answer: a section per document read, other matches, sources and tool errors."""
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
        lines += _source_section(plan, n, src, summaries.get(src.key) or {}, entities.get(src.key) or {})
    read = {s.key for s in sources}
    others = [h for h in hits if h.key not in read][:4]
    if others:
        lines += ["### Other matching documents", ""]
        lines += [f"- {cite(h.key)} {one_line(h.title, 100)}: {one_line(unprefixed(h.snippet, h.title), 200)}"
                  for h in others]
    if not sources:
        lines += ["", "None of the matching documents could be read, so only the search results are listed."]
    listed = sources + [h for h in hits if h.key not in read][:4]
    lines += sources_list(listed, read)
    lines += plan.failures("search_documents", "fetch_document", "summarize_document", "extract_entities")
    return lines
