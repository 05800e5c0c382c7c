"""The agent runtime: one ReAct loop shared by the CLI, the local server and the ECS workers."""

__version__ = "0.1.0"
