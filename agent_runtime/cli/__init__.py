"""The `agent-platform` command: run an agent locally, list agents and tools, index documents, use the
task API (serve, submit, watch, cancel) and its keys, and serve the tools over MCP (`mcp`).

The commands live in `local` and `remote` as plain typed functions; this module registers them on
the one app, in the order `--help` lists them. Bad input gets one red line on stderr and exit code 2.
"""

from __future__ import annotations

import typer

from agent_runtime.agent_file import AgentFileError

try:
    from agent_runtime.cli import keys, local, mcp, remote
except AgentFileError as _exc:  # a bad agents file: its problems, one a line, and no traceback
    raise SystemExit(str(_exc)) from None

app = typer.Typer(
    name="agent-platform",
    help="AI agents (declared in agents.toml) with tools; runs locally and offline, deploys to AWS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _command in (local.run, local.agents, local.tools, local.corpus, local.ingest,
                 remote.serve, remote.submit, remote.watch, remote.cancel, mcp.mcp):
    app.command()(_command)
app.add_typer(keys.app, name="keys")


def main() -> None:
    """Console script entry point (`agent-platform`)."""
    app()
