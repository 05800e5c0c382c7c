"""Guards that stop a task: steps, wall clock, tokens, dollars, plus tool/approval timeouts."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

# What a sensitive call's approval becomes when nobody decides before its deadline; the runtime
# settings and the CDK settings both take their choices from here.
ApprovalTimeoutPolicy = Literal["deny", "approve"]
APPROVAL_TIMEOUT_POLICIES: tuple[str, ...] = get_args(ApprovalTimeoutPolicy)


class Limits(BaseModel):
    """Per-task guards. Every field is bounded so an API caller cannot ask for the unreasonable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_steps: int = Field(10, ge=1, le=200, description="model calls before the task is stopped")
    max_seconds: float = Field(600.0, gt=0, le=86_400, description="wall-clock seconds for the whole task")
    max_tokens: int = Field(400_000, ge=1, le=50_000_000, description="prompt + completion tokens, summed")
    max_cost_usd: float = Field(2.0, ge=0, le=1_000, description="model cost in USD, summed")
    tool_timeout_s: float | None = Field(
        None, gt=0, le=900, description="per tool call; default is the tool's own timeout"
    )
    approval_timeout_s: float = Field(300.0, gt=0, le=7 * 86_400, description="wait for a human decision")
    memory_tokens: int = Field(24_000, ge=500, le=2_000_000, description="conversation budget sent to the model")

    def merged(self, overrides: dict[str, object] | None) -> Limits:
        """These limits with some fields replaced (validated)."""
        if not overrides:
            return self
        return Limits.model_validate({**self.model_dump(), **overrides})
