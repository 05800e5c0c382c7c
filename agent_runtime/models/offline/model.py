"""`OfflineModel`: the `Model` protocol over the playbooks, one planning step per call."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agent_runtime.agents import AgentSpec
from agent_runtime.events import Usage
from agent_runtime.models.base import Message, ModelReply
from agent_runtime.models.offline.analysis import analysis
from agent_runtime.models.offline.consult import with_consulted
from agent_runtime.models.offline.content import content
from agent_runtime.models.offline.parsing import message_text, read_state
from agent_runtime.models.offline.plan import Plan
from agent_runtime.models.offline.research import research

_PLAYBOOKS: dict[str, Callable[[Plan], ModelReply]] = {
    "research": research, "content": content, "analysis": analysis,
}


def playbook_for(agent: AgentSpec) -> Callable[[Plan], ModelReply]:
    """The agent's own playbook; an agent declared in the agents file gets the one its tools suit:
    analysis with `analyze_data`, else content with `publish_report`, else research (which uses
    whichever of the search, fetch, summarise and extract tools it has)."""
    if agent.name in _PLAYBOOKS:
        return _PLAYBOOKS[agent.name]
    if "analyze_data" in agent.tools:
        return analysis
    return content if "publish_report" in agent.tools else research


class OfflineModel:
    """A deterministic, network-free model that follows the agent's playbook (see the package docstring)."""

    name = "offline"
    offline = True

    def __init__(self, agent: AgentSpec) -> None:
        self.agent = agent
        self._playbook = playbook_for(agent)

    async def complete(self, messages: list[Message], tools: list[dict[str, Any]]) -> ModelReply:
        """The next step of the playbook for this conversation."""
        names = {t.get("function", {}).get("name") for t in tools or []}
        plan = Plan(read_state(messages), {n for n in names if n}, self.agent)
        reply = with_consulted(plan, tools or [], self.agent, self._playbook(plan))
        reply.usage = _usage(messages, tools, reply)
        reply.cost_usd = 0.0
        return reply

    async def aclose(self) -> None:
        """Nothing to release: the model holds no connection."""
        return None


def _usage(messages: list[Message], tools: list[dict[str, Any]], reply: ModelReply) -> Usage:
    """Rough token counts (4 characters a token) so budgets and displays behave as with a real model."""
    chars = len(json.dumps(tools)) if tools else 0
    for msg in messages:
        chars += len(message_text(msg.get("content"))) + 8
        for part in msg.get("tool_calls") or []:
            chars += len((part.get("function") or {}).get("arguments") or "") + 16
    out = len(reply.text) + sum(len(c.arguments) + len(c.name) for c in reply.tool_calls)
    return Usage(prompt_tokens=max(1, chars // 4), completion_tokens=max(1, out // 4))
