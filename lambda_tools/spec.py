"""What a tool is: the shape every catalog entry has.

Kept free of heavy imports: the CDK app, the Lambda handlers and the runtime all
import it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import BaseModel

# What a tool function may reach besides its own logs; the tools stack grants each function exactly
# the ones its catalog entry declares (and tells it their names), nothing more.
ToolResource = Literal["documents:read", "reports:read", "reports:write", "reports_topic:publish"]
TOOL_RESOURCES: tuple[ToolResource, ...] = get_args(ToolResource)


@dataclass(frozen=True)
class ToolContext:
    """Per-call facts and backends a tool function may need.

    `task_id` and `call_id` make an idempotency key for sensitive tools (a retried
    call with the same ids must not act twice). `documents` and `reports` are the
    backends (a folder locally, S3 in AWS); tools that need neither ignore them.
    `cancel` is set when the caller abandoned the call (it timed out or its task was
    cancelled): a long tool may check it and stop early.
    """

    task_id: str = "local"
    call_id: str = "call-0"
    documents: Any = None
    reports: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def idempotency_key(self) -> str:
        return f"{self.task_id}/{self.call_id}"


@dataclass(frozen=True)
class ToolSpec:
    """One tool, declared once.

    `run` is the pure function: it takes the validated input model and a context
    and returns a JSON-serialisable dict, raising `ToolFailure` (from
    `lambda_tools.common`) for failures the model should see. `handler` is the
    dotted path of the Lambda handler (module path + ".handler"). `resources` is what
    the deployed function may reach (see `ToolResource`).
    """

    name: str
    description: str
    input_model: type[BaseModel]
    run: Callable[[Any, ToolContext], dict[str, Any]]
    handler: str
    output_description: str = ""
    sensitive: bool = False
    resources: frozenset[ToolResource] = frozenset()
    timeout_s: int = 30
    memory_mb: int = 256

    def parameters_schema(self) -> dict[str, Any]:
        """The JSON schema of the input model: what the model sees."""
        return self.input_model.model_json_schema()

    def openai_tool(self) -> dict[str, Any]:
        """The entry for the Chat Completions `tools` list; the description ends with the output shape. Built
        once per spec (pydantic takes about a millisecond over a schema, and every task's agent lists its
        tools) and shared: read it, do not change it."""
        cached: dict[str, Any] | None = self.__dict__.get("_openai_tool")
        if cached is None:
            description = f"{self.description} Returns {self.output_description}." if self.output_description \
                else self.description
            cached = {
                "type": "function",
                "function": {"name": self.name, "description": description, "parameters": self.parameters_schema()},
            }
            object.__setattr__(self, "_openai_tool", cached)  # frozen: not a field, so not in eq or hash
        return cached
