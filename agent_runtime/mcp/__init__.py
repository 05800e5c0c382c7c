"""MCP both ways.

- `declaration`: an agent's `mcp_servers` entries of the agents file (validated; cheap to import, the CDK app does).
- `tools`: the tools of those servers as `Tool`s the loop calls like catalog tools (`McpTool`).
- `arguments`: the input model of an MCP tool, built from the JSON schema its server lists.
- `server`: the tool catalog served over MCP (`agent-platform mcp`), sensitive tools confirmed by elicitation.
- `http`: that server over streamable HTTP, behind the task API's bearer-key check.

Only `declaration` is imported by the rest of the runtime at start-up; the SDK (`mcp`) is imported
when an MCP server is served or an agent's MCP tools are built.
"""
