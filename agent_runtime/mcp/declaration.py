"""An MCP server an agent uses, as its agents file declares it (`[[agents.mcp_servers]]`).

A server is a command the runtime starts (stdio) or a URL it connects to (streamable HTTP). Only the
tools named in `tools` join the agent's tool list; those in `sensitive` wait for a human's approval
like `publish_report`. An HTTP server's bearer token comes from the environment variable `token_env`
(locally) or the Secrets Manager secret `secret` (in AWS, where the stack grants the agent's task role
read on exactly that secret). Importing this module must stay cheap (the CDK app imports it).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# What a Chat Completions function name may be; an MCP tool keeps its server's name.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A Secrets Manager secret: its name, or its complete ARN (with the 6-character suffix).
SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class McpServerDeclaration(BaseModel):
    """One `[[agents.mcp_servers]]` table: where the server is, which of its tools the agent may call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="lowercase letters, digits, underscores")
    command: str | None = Field(None, min_length=1, max_length=500, description="stdio: the program to start")
    args: tuple[str, ...] = Field((), description="stdio: its arguments")
    url: str | None = Field(None, max_length=2000, description="streamable HTTP: the server's endpoint")
    tools: tuple[str, ...] = Field(min_length=1, description="the server's tools the agent may call")
    sensitive: tuple[str, ...] = Field((), description="of those, the ones a human approves first")
    timeout_s: int = Field(30, ge=1, le=900, description="seconds a call may take")
    token_env: str | None = Field(None, description="HTTP: environment variable holding the bearer token")
    secret: str | None = Field(None, description="HTTP in AWS: Secrets Manager secret (name or ARN) of the token")

    @field_validator("tools")
    @classmethod
    def _tool_names(cls, tools: tuple[str, ...]) -> tuple[str, ...]:
        bad = [t for t in tools if not TOOL_NAME.fullmatch(t)]
        if bad:
            raise ValueError(f"tool name {bad[0]!r} is not 1-64 letters, digits, '_' or '-'")
        if len(set(tools)) < len(tools):
            raise ValueError("a tool is listed twice")
        return tools

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http(s) URL")
            if parts.username or parts.password:
                raise ValueError("put credentials in token_env or secret, not in the URL")
        return url

    @field_validator("token_env")
    @classmethod
    def _token_env(cls, name: str | None) -> str | None:
        if name is not None and not ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an environment variable name")
        return name

    @field_validator("secret")
    @classmethod
    def _secret(cls, secret: str | None) -> str | None:
        if secret is None:
            return None
        if secret.startswith("arn:"):
            if not SECRET_ARN.fullmatch(secret):
                raise ValueError(f"{secret!r} is not a complete Secrets Manager secret ARN (name-XXXXXX)")
        elif not SECRET_NAME.fullmatch(secret):
            raise ValueError(f"{secret!r} is not a Secrets Manager secret name or ARN")
        return secret

    @model_validator(mode="after")
    def _shape(self) -> McpServerDeclaration:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a stdio server) or url (a streamable HTTP server)")
        if self.command is None and self.args:
            raise ValueError("args go with command (a stdio server)")
        if self.url is None and (self.token_env or self.secret):
            raise ValueError("token_env and secret go with url (an HTTP server)")
        stray = [t for t in self.sensitive if t not in self.tools]
        if stray:
            raise ValueError(f"sensitive names {stray[0]!r}, which is not in tools")
        return self

    @property
    def transport(self) -> str:
        """`stdio` or `http`."""
        return "stdio" if self.command is not None else "http"


def tool_name_problems(catalog: tuple[str, ...], servers: tuple[McpServerDeclaration, ...]) -> list[str]:
    """Why the MCP servers' tools cannot join an agent's tools: a server declared twice, or a tool
    name that another server or the catalog already uses (the model would not know which is meant)."""
    problems: list[str] = []
    servers_seen: set[str] = set()
    owner = {name: "the catalog" for name in catalog}
    for server in servers:
        if server.name in servers_seen:
            problems.append(f"server {server.name!r} is declared twice")
        servers_seen.add(server.name)
        for tool in server.tools:
            if tool in owner:
                problems.append(f"tool {tool!r} of server {server.name!r} is also a tool of {owner[tool]}")
            else:
                owner[tool] = f"server {server.name!r}"
    return problems
