"""One planning step: what a playbook reads (the state) and how it replies (tool calls or the answer)."""

from __future__ import annotations

import json
import re
from typing import Any

from agent_runtime.agents import AgentSpec
from agent_runtime.models.base import ModelReply, ToolCall
from agent_runtime.models.offline.parsing import Source, State, search_query
from agent_runtime.models.offline.rendering import OFFLINE_NOTE, describe_args, one_line
from lambda_tools.text import tokenize

MAX_READ = 3  # documents read (fetched or summarised) per task


class Plan:
    """One planning step: the state read from the conversation, and how to emit calls or the answer."""

    def __init__(self, state: State, tools: set[str], agent: AgentSpec) -> None:
        self.state = state
        self.tools = tools
        self.agent = agent
        self.query = search_query(state.task)
        self.terms = set(tokenize(self.query))

    def can(self, tool: str) -> bool:
        """Whether this agent was given the tool `tool`."""
        return tool in self.tools

    def calls(self, thought: str, calls: list[tuple[str, dict[str, Any]]]) -> ModelReply:
        """A reply asking for `calls` (run in parallel by the loop), ids numbered by step."""
        step = self.state.turns + 1
        tool_calls = [
            ToolCall(f"call_{step}_{n}", name, json.dumps(args, ensure_ascii=False))
            for n, (name, args) in enumerate(calls, start=1)
        ]
        return ModelReply(text=thought, tool_calls=tool_calls)

    def answer(self, lines: list[str]) -> ModelReply:
        """The final answer: the offline note, then `lines`, with runs of blank lines collapsed."""
        text = "\n".join([OFFLINE_NOTE, "", *lines]).strip() + "\n"
        return ModelReply(text=re.sub(r"\n{3,}", "\n\n", text))

    def heading(self) -> str:
        """The answer's heading: the task on one line."""
        return f"## {one_line(self.state.task, 160)}"

    def failures(self, *names: str) -> list[str]:
        """A section listing the failed calls to the tools `names` (empty when none failed)."""
        failed = [c for c in self.state.calls if c.name in names and not c.ok]
        if not failed:
            return []
        lines = ["", "### Tool errors (those branches were skipped)", ""]
        for call in failed:
            lines.append(f"- `{call.name}` ({describe_args(call.args)}): {one_line(call.error or '', 200)}")
        return lines


def best_hits(hits: list[Source], limit: int = MAX_READ) -> list[Source]:
    """The hits worth reading: the best one, and the next ones scoring at least 40% of it."""
    if not hits:
        return []
    top = hits[0].score or 0.0
    chosen = [h for h in hits[:limit] if (h.score or 0.0) >= 0.4 * top]
    return chosen if len(chosen) >= min(2, len(hits)) else hits[: min(2, len(hits))]
