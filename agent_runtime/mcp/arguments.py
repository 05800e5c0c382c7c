"""The input model of an MCP tool: its server's JSON schema, checked with `jsonschema` (an SDK dependency).

The loop validates every call with `spec.input_model.model_validate` and shows the model
`spec.parameters_schema()`; an MCP tool has no pydantic fields, so its model keeps the arguments
as they came and validates them against the schema the server listed, which is also the schema the
model sees. A bad call is a `ValidationError` the model reads, as with catalog tools.
"""

from __future__ import annotations

from typing import Any, ClassVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from agent_runtime.errors import ConfigurationError

MAX_PROBLEMS = 5


class McpArguments(BaseModel):
    """Arguments of an MCP tool: any JSON object its schema accepts (see `arguments_model`)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    schema_: ClassVar[dict[str, Any]] = {"type": "object"}
    validator_: ClassVar[Draft202012Validator] = Draft202012Validator({"type": "object"})

    @model_validator(mode="before")
    @classmethod
    def _against_schema(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError("mcp_arguments", "arguments must be a JSON object")
        errors = sorted(cls.validator_.iter_errors(data), key=lambda e: list(e.path))
        if errors:
            parts = [f"{'.'.join(map(str, e.path)) or 'arguments'}: {e.message}" for e in errors[:MAX_PROBLEMS]]
            raise PydanticCustomError("mcp_arguments", "; ".join(parts).replace("{", "(").replace("}", ")"))
        return data

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return dict(cls.schema_)


def arguments_model(tool: str, schema: dict[str, Any]) -> type[McpArguments]:
    """A model validating the arguments of `tool` against `schema` (its server's `inputSchema`)."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ConfigurationError(f"MCP tool {tool!r} lists an invalid input schema: {exc.message}") from None
    attrs = {"schema_": dict(schema), "validator_": Draft202012Validator(schema), "__module__": __name__}
    return type(f"McpArguments_{tool.replace('-', '_')}", (McpArguments,), attrs)
