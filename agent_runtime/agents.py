"""The platform's agents, as declared in the agents file (`agents.toml`): shared by the CLI, the server
and the infrastructure.

The declarations are read and validated once, when this module is first imported (see
`agent_runtime.agent_file` for where they come from). The CDK app reads its file through
`stacks.settings` instead (`-c agents_file=`), so it does not depend on this module's choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from agent_runtime.agent_file import AgentSpec, declared_agents
from agent_runtime.errors import UnknownAgentError

__all__ = ["AGENTS", "AgentSpec", "get_agent"]

AGENTS: Mapping[str, AgentSpec] = MappingProxyType(declared_agents())


def get_agent(name: str) -> AgentSpec:
    """The agent called `name`, or `UnknownAgentError`."""
    try:
        return AGENTS[name]
    except KeyError:
        raise UnknownAgentError(name, sorted(AGENTS)) from None


def __getattr__(name: str) -> AgentSpec:
    """`RESEARCH`, `CONTENT`, `ANALYSIS`: the default agents by their old constant names (tests use them)."""
    if name in ("RESEARCH", "CONTENT", "ANALYSIS"):
        return get_agent(name.lower())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
