"""The content playbook: search -> summarize (parallel) -> draft -> publish when asked -> answer."""

from __future__ import annotations

from agent_runtime.models.base import ModelReply
from agent_runtime.models.offline.parsing import Source, search_hits, topic_of, wants_publishing
from agent_runtime.models.offline.plan import Plan, best_hits
from agent_runtime.models.offline.rendering import cite, one_line


def content(plan: Plan) -> ModelReply:
    """The next content step: gather, summarise, publish the draft if asked, then hand the draft back."""
    state = plan.state
    if not state.task:
        return plan.answer(["There is nothing to write: the task text is empty."])
    if not state.of("search_documents") and plan.can("search_documents"):
        return plan.calls(f"Gathering material: searching the corpus for: {plan.query}",
                          [("search_documents", {"query": plan.query, "limit": 5})])
    hits = search_hits(state)
    if hits and not state.of("summarize_document") and plan.can("summarize_document"):
        chosen = best_hits(hits)
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
            lines += [f"**Not published**: {one_line(call.error or 'unknown error', 300)}", ""]
    elif publish and not hits:
        lines += ["**Not published**: no material was found, so there was nothing worth publishing.", ""]
    elif publish and not plan.can("publish_report"):
        lines += ["**Not published**: this agent has no publish_report tool.", ""]
    lines += ["---", "", draft]
    lines += plan.failures("search_documents", "summarize_document")
    return plan.answer(lines)


def _draft(plan: Plan, hits: list[Source]) -> tuple[str, str]:
    """The Markdown piece, written from the summaries (or search snippets) of the best sources."""
    topic = topic_of(plan.state.task)
    title = one_line(topic, 90)
    title = title[:1].upper() + title[1:]
    if not hits:
        body = [f"# {title}", "", f"No document in the corpus matched \u201c{plan.query}\u201d, so there is no "
                "material to draft from."]
        return title, "\n".join(body) + "\n"
    summaries = {str(c.args.get("document_id")): c.data for c in plan.state.ok("summarize_document")}
    used = [h for h in best_hits(hits) if h.key in summaries] or best_hits(hits)
    lines = [f"# {title}", "",
             f"What the documentation says about {topic}, drawn from {len(used)} source"
             f"{'s' if len(used) > 1 else ''}: " + ", ".join(cite(h.key) for h in used) + ".", ""]
    for hit in used:
        summary = summaries.get(hit.key) or {}
        text = str(summary.get("summary") or hit.snippet or "")
        lines += [f"## {one_line(hit.title, 120)}", "", f"{one_line(text, 1200)} {cite(hit.key)}", ""]
    lines += ["## Sources", ""]
    lines += [f"- {cite(h.key)} {one_line(h.title, 120)}" for h in used]
    lines += ["", "_Drafted offline by the deterministic planner from the document corpus; no LLM was called._"]
    return title, "\n".join(lines) + "\n"
