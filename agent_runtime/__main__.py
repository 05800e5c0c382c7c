"""`python -m agent_runtime ...` runs the `agent-platform` command."""

from agent_runtime.cli import main

main()
