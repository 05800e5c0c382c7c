"""The tool protocol the loop calls: validated input in, JSON-able dict out.

Implementations: `LocalTool` (the catalog function in a worker thread) and
`LambdaTool` (the deployed Lambda function through boto3). Both validate
arguments with the same catalog input model before calling.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from lambda_tools.spec import ToolResource, ToolSpec

# What a tool with side effects may reach: its calls are the ones a cancel must not leave running unseen.
WRITE_RESOURCES: frozenset[ToolResource] = frozenset({"reports:write", "reports_topic:publish"})


def writes(spec: ToolSpec) -> bool:
    """Whether the tool has side effects (it may write reports or publish notifications)."""
    return bool(spec.resources & WRITE_RESOURCES)


@runtime_checkable
class Tool(Protocol):
    spec: ToolSpec

    async def invoke(self, args: BaseModel, *, task_id: str, call_id: str) -> dict[str, Any]:
        """Run the tool; raise `agent_runtime.errors.ToolError` with a message the model can act on."""
        ...
