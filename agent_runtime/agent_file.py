"""The agents file (`agents.toml`): what each agent is, read and validated in one place.

The runtime, the CLI, the API and the CDK app all read agents through this module, so an agent
added to the file runs locally at once and gets its own AWS service on the next deploy. Every
problem is reported on its own line, naming the agent and the field, before anything runs.

Where the declarations come from, first match wins:

1. `AGENT_PLATFORM_AGENTS_JSON`: the validated declarations as JSON; the CDK stack sets it on each
   container, so a service runs exactly the agents it was deployed with, whatever file or image;
2. `AGENT_PLATFORM_AGENTS_FILE`: a TOML file (the CDK app takes `-c agents_file=` instead);
3. `agents.toml` at the repository root (the container image copies it and names it as in 2).

Importing this module must stay cheap (the CDK app imports it).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent_runtime import envnames as env
from agent_runtime.errors import ConfigurationError
from agent_runtime.limits import Limits
from agent_runtime.mcp.declaration import McpServerDeclaration, tool_name_problems
from agent_runtime.table_keys import AGENT_NAME
from lambda_tools.catalog import TOOL_NAMES

DEFAULT_AGENTS_FILE = Path(__file__).resolve().parent.parent / "agents.toml"

# Fargate's valid CPU units -> allowed memory (MiB).
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}


def fargate_size_problem(cpu: int, memory_mib: int | None) -> str | None:
    """Why `cpu` (with `memory_mib`, when given) is not a Fargate task size, or None when it is."""
    allowed = FARGATE_MEMORY.get(cpu)
    if allowed is None:
        return f"cpu {cpu} is not a Fargate size; use one of {', '.join(map(str, FARGATE_MEMORY))}"
    if memory_mib is not None and memory_mib not in allowed:
        return (f"cpu {cpu} with memory_mib {memory_mib} is not a Fargate size; with cpu {cpu} use memory_mib "
                f"from {allowed[0]} to {allowed[-1]} in steps of {allowed[1] - allowed[0]}")
    return None


class AgentFileError(ConfigurationError):
    """The agents file is missing or invalid; `problems` has one line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"invalid agents file {source}:\n" + "\n".join(f"  - {p}" for p in problems))
        self.source = source
        self.problems = problems


class ServiceSize(BaseModel):
    """The AWS sizing of an agent's Fargate service; unset fields take the `task_size` of `cdk.json`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu: int | None = Field(None, description="CPU units of a task (256 = 1/4 vCPU)")
    memory_mib: int | None = Field(None, ge=512, le=122_880, description="memory of a task, MiB")
    min_tasks: int | None = Field(None, ge=1, le=100, description="tasks always running")
    max_tasks: int | None = Field(None, ge=1, le=1000, description="tasks when the queue is long")

    @model_validator(mode="after")
    def _fargate(self) -> ServiceSize:
        problem = fargate_size_problem(self.cpu, self.memory_mib) if self.cpu is not None else None
        if problem:
            raise ValueError(problem)
        if self.min_tasks is not None and self.max_tasks is not None and self.min_tasks > self.max_tasks:
            raise ValueError(f"min_tasks {self.min_tasks} exceeds max_tasks {self.max_tasks}")
        return self


@dataclass(frozen=True)
class AgentSpec:
    """One agent: its instructions, its tools (catalog names), its default limits, and how it is deployed.

    `model` and `concurrency` override the platform's model and worker concurrency for this agent;
    `service` sizes its AWS service. `tools` are catalog tools; the tools of `mcp_servers` join them
    when the runtime builds the agent's tools. Tests build specs with their own tools, so tools are
    checked against the catalog by the agents file, not here.
    """

    name: str
    description: str
    instructions: str
    tools: tuple[str, ...]
    limits: Limits = field(default_factory=Limits)
    model: str | None = None
    concurrency: int | None = None
    service: ServiceSize = field(default_factory=ServiceSize)
    mcp_servers: tuple[McpServerDeclaration, ...] = ()

    @property
    def mcp_tools(self) -> tuple[str, ...]:
        """The names of the tools this agent takes from its MCP servers."""
        return tuple(tool for server in self.mcp_servers for tool in server.tools)


class AgentDeclaration(BaseModel):
    """One `[[agents]]` table of the agents file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=AGENT_NAME.pattern, description="lowercase letters, digits, underscores")
    description: str = Field(min_length=1, max_length=500)
    instructions: str = Field(min_length=1, max_length=20_000)
    tools: tuple[str, ...] = Field(description="catalog tools (MCP tools come from mcp_servers)")
    limits: Limits = Field(default_factory=Limits)
    model: str | None = Field(None, min_length=1, max_length=200)
    concurrency: int | None = Field(None, ge=1, le=1000)
    service: ServiceSize = Field(default_factory=ServiceSize)
    mcp_servers: tuple[McpServerDeclaration, ...] = Field((), max_length=20)

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, tools: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in tools if t not in TOOL_NAMES]
        if unknown:
            raise ValueError(f"unknown tool {', '.join(map(repr, unknown))}; known tools: {', '.join(TOOL_NAMES)}")
        if len(set(tools)) < len(tools):
            raise ValueError("a tool is listed twice")
        return tools

    @model_validator(mode="after")
    def _some_tool(self) -> AgentDeclaration:
        if not self.tools and not self.mcp_servers:
            raise ValueError("tools: give at least one tool (a catalog tool, or an MCP server's in mcp_servers)")
        return self

    def spec(self) -> AgentSpec:
        """The runtime's view of this declaration."""
        return AgentSpec(name=self.name, description=self.description, instructions=self.instructions,
                         tools=self.tools, limits=self.limits, model=self.model, concurrency=self.concurrency,
                         service=self.service, mcp_servers=self.mcp_servers)


def _where(document: Any, loc: tuple[int | str, ...]) -> str:
    """'agent 'writer', tools' for an error at ('agents', 3, 'tools', ...)."""
    if len(loc) >= 2 and loc[0] == "agents" and isinstance(loc[1], int):
        agents = document.get("agents") if isinstance(document, dict) else None
        entry = agents[loc[1]] if isinstance(agents, list) and loc[1] < len(agents) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        who = f"agent {name!r}" if isinstance(name, str) else f"agents[{loc[1]}]"
        rest = ".".join(str(p) for p in loc[2:])
        if len(loc) > 3 and loc[2] == "mcp_servers" and isinstance(loc[3], int):
            rest = ", ".join(filter(None, [_server_label(entry, loc[3]), ".".join(str(p) for p in loc[4:])]))
        return f"{who}, {rest}" if rest else who
    return ".".join(str(p) for p in loc) or "file"


def _server_label(agent: Any, index: int) -> str:
    """"mcp_servers 'notes'" for the agent's MCP server at `index` (its name, when it has one)."""
    servers = agent.get("mcp_servers") if isinstance(agent, dict) else None
    server = servers[index] if isinstance(servers, list) and index < len(servers) else None
    name = server.get("name") if isinstance(server, dict) else None
    return f"mcp_servers {name!r}" if isinstance(name, str) else f"mcp_servers[{index}]"


def parse_agents(document: Any, *, source: str) -> dict[str, AgentSpec]:
    """The agents declared in `document` (the parsed file: `{"agents": [...]}`), by name, in file order.

    Raises `AgentFileError` listing every problem, one line each.
    """
    if not isinstance(document, dict) or not isinstance(document.get("agents"), list) or not document["agents"]:
        raise AgentFileError(source, ["declare at least one agent as an [[agents]] table"])
    problems = [f"{key}: unknown key; the file holds [[agents]] tables" for key in sorted(set(document) - {"agents"})]
    specs: dict[str, AgentSpec] = {}
    for index, raw in enumerate(document["agents"]):
        try:
            declared = AgentDeclaration.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                message = str(error["msg"]).removeprefix("Value error, ")
                problems.append(f"{_where(document, ('agents', index, *error['loc']))}: {message}")
            continue
        if declared.name in specs:
            problems.append(f"agent {declared.name!r}, name: declared twice; agent names must be unique")
            continue
        clashes = tool_name_problems(TOOL_NAMES, declared.mcp_servers)
        problems.extend(f"agent {declared.name!r}, mcp_servers: {clash}" for clash in clashes)
        if clashes:
            continue
        specs[declared.name] = declared.spec()
    if problems:
        raise AgentFileError(source, problems)
    return specs


def read_agents_file(path: Path) -> dict[str, AgentSpec]:
    """The agents declared in the TOML file at `path`; raises `AgentFileError`."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AgentFileError(str(path), [f"cannot read it ({exc.strerror or exc})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise AgentFileError(str(path), [f"not valid TOML ({exc})"]) from None
    return parse_agents(document, source=str(path))


def agents_document(specs: Mapping[str, AgentSpec]) -> dict[str, Any]:
    """`specs` as an agents document (what `parse_agents` reads back), e.g. to hand to a container as JSON."""
    agents = []
    for spec in specs.values():
        entry: dict[str, Any] = {"name": spec.name, "description": spec.description,
                                 "instructions": spec.instructions, "tools": list(spec.tools),
                                 "limits": spec.limits.model_dump(exclude_none=True),
                                 "service": spec.service.model_dump(exclude_none=True)}
        entry.update({k: v for k, v in (("model", spec.model), ("concurrency", spec.concurrency)) if v is not None})
        if spec.mcp_servers:
            entry["mcp_servers"] = [s.model_dump(exclude_defaults=True) for s in spec.mcp_servers]
        agents.append(entry)
    return {"agents": agents}


def agents_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """The agents file this process reads: `AGENT_PLATFORM_AGENTS_FILE`, else the repository's `agents.toml`."""
    given = (environ if environ is not None else os.environ).get(env.AGENTS_FILE, "").strip()
    return Path(given).expanduser() if given else DEFAULT_AGENTS_FILE


def declared_agents(environ: Mapping[str, str] | None = None) -> dict[str, AgentSpec]:
    """The agents this process runs: from `AGENT_PLATFORM_AGENTS_JSON` when set, else the agents file."""
    environ = environ if environ is not None else os.environ
    inline = environ.get(env.AGENTS_JSON, "").strip()
    if inline:
        try:
            document = json.loads(inline)
        except ValueError as exc:
            raise AgentFileError(env.AGENTS_JSON, [f"not valid JSON ({exc})"]) from None
        return parse_agents(document, source=env.AGENTS_JSON)
    return read_agents_file(agents_file_path(environ))
