"""The three agents, defined once: shared by the CLI, the server and the infrastructure.

Importing this module must stay cheap (the CDK app imports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent_runtime.errors import UnknownAgentError
from agent_runtime.limits import Limits


@dataclass(frozen=True)
class AgentSpec:
    name: str
    description: str
    instructions: str
    tools: tuple[str, ...]
    limits: Limits = field(default_factory=Limits)


_COMMON = (
    "Work step by step: think, call tools, read their results, repeat. "
    "Call several tools in one turn when they do not depend on each other. "
    "Use only facts from tool results; cite documents by their id in square brackets, e.g. [asyncio-task]. "
    "If a tool returns an error, read it and fix your call. "
    "When you have enough, answer in Markdown without calling more tools."
)

RESEARCH = AgentSpec(
    name="research",
    description="Researches a question over the document corpus (and web pages) and writes a cited report.",
    instructions=(
        "You are the research agent. Search the documents, read the most relevant ones, "
        "extract the key entities and summaries, and write a concise cited report. " + _COMMON
    ),
    tools=("search_documents", "fetch_document", "summarize_document", "extract_entities", "classify_content"),
    limits=Limits(max_steps=10),
)

CONTENT = AgentSpec(
    name="content",
    description="Gathers material, drafts content (posts, briefs, notes) and publishes it on approval.",
    instructions=(
        "You are the content agent. Gather material with the tools, draft the requested content in "
        "Markdown, and publish it with publish_report only when the task asks for publishing "
        "(a human approves every publication). " + _COMMON
    ),
    tools=("search_documents", "summarize_document", "extract_entities", "classify_content", "publish_report"),
    limits=Limits(max_steps=10),
)

ANALYSIS = AgentSpec(
    name="analysis",
    description="Analyses CSV/JSON data (statistics, group-by, correlation, trend) and reports findings.",
    instructions=(
        "You are the analysis agent. Load the data, describe it, then group, correlate or fit trends as "
        "the question needs, and report the findings with the numbers. Publish with publish_report only "
        "when asked. " + _COMMON
    ),
    tools=("search_documents", "summarize_document", "analyze_data", "publish_report"),
    limits=Limits(max_steps=10),
)

AGENTS: dict[str, AgentSpec] = {a.name: a for a in (RESEARCH, CONTENT, ANALYSIS)}


def get_agent(name: str) -> AgentSpec:
    """The agent called `name`, or `UnknownAgentError`."""
    try:
        return AGENTS[name]
    except KeyError:
        raise UnknownAgentError(name, sorted(AGENTS)) from None
