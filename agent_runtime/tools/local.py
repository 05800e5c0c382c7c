"""`LocalTool`: a catalog tool called in-process, its pure function run in a worker thread."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ValidationError

from agent_runtime.errors import ToolError, ToolInputError
from lambda_tools.common import ToolFailure
from lambda_tools.schema import describe_validation_error
from lambda_tools.spec import ToolContext, ToolSpec


def validated(spec: ToolSpec, args: BaseModel | dict[str, Any]) -> BaseModel:
    """`args` as an instance of the tool's input model (re-validated if it is anything else)."""
    if isinstance(args, spec.input_model):
        return args
    raw = args.model_dump() if isinstance(args, BaseModel) else args
    try:
        return spec.input_model.model_validate(raw)
    except ValidationError as exc:
        raise ToolInputError(f"invalid arguments for {spec.name}: {describe_validation_error(exc)}") from None


class LocalTool:
    """Runs `spec.run` in a thread so a CPU-bound tool never blocks the event loop."""

    def __init__(self, spec: ToolSpec, *, documents: Any = None, reports: Any = None,
                 extras: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.documents = documents
        self.reports = reports
        self.extras = dict(extras or {})

    def __repr__(self) -> str:
        return f"LocalTool({self.spec.name!r})"

    async def invoke(self, args: BaseModel, *, task_id: str, call_id: str) -> dict[str, Any]:
        """Run the tool; a `ToolFailure` becomes a `ToolError` whose message the model sees."""
        model = validated(self.spec, args)
        ctx = ToolContext(task_id=task_id, call_id=call_id, documents=self.documents, reports=self.reports,
                          extras=self.extras)
        try:
            return await asyncio.to_thread(self.spec.run, model, ctx)
        except ToolFailure as exc:
            raise ToolError(exc.message) from None
