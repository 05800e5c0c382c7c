"""An agents file with a fourth agent, shared by the agents-file tests (runtime, CLI and CDK)."""

from __future__ import annotations

from pathlib import Path

from agent_runtime.agent_file import DEFAULT_AGENTS_FILE

FOURTH = "triage"
FOURTH_TOOLS = ("search_documents", "summarize_document", "classify_content")
FOURTH_AGENT = f'''
[[agents]]
name = "{FOURTH}"
description = "Sorts incoming questions by topic and points at the documents that answer them."
instructions = "You are the triage agent. Search the documents, classify the question and summarise the best match."
tools = {list(FOURTH_TOOLS)!r}
model = "gpt-4o"
concurrency = 8

[agents.limits]
max_steps = 6

[agents.service]
cpu = 1024
memory_mib = 2048
max_tasks = 2
'''.replace("'", '"')


def agents_file_with_fourth(folder: Path) -> Path:
    """The shipped agents file plus the fourth agent, written into `folder`."""
    path = folder / "agents.toml"
    path.write_text(DEFAULT_AGENTS_FILE.read_text(encoding="utf-8") + FOURTH_AGENT, encoding="utf-8")
    return path
