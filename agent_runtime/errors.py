"""One flat exception hierarchy for the runtime.

Caller faults (bad settings, bad requests) raise; model faults (bad tool arguments,
unknown tools, unparseable ReAct text) are turned into observations the model can
act on. Exceptions carry data and never log.
"""

from __future__ import annotations


class AgentPlatformError(Exception):
    """Base of every error the platform raises on purpose."""


class ConfigurationError(AgentPlatformError):
    """Settings or arguments given by the caller are invalid."""


class UnknownAgentError(ConfigurationError):
    """The caller named an agent that does not exist."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown agent {name!r}; known agents: {', '.join(known)}")
        self.name = name
        self.known = known


class ModelError(AgentPlatformError):
    """The model endpoint failed in a way retries did not fix (HTTP error, bad reply)."""

    def __init__(self, message: str, *, status_code: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable


class ModelFormatError(AgentPlatformError):
    """The model's reply could not be understood (e.g. a malformed ReAct action).

    The loop feeds the message back to the model instead of failing the task.
    """


class ToolError(AgentPlatformError):
    """A tool could not do what it was asked; the message is shown to the model."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ToolInputError(ToolError):
    """Tool arguments failed validation against the tool's input model."""


class ToolTimeoutError(ToolError):
    """A tool call ran past its timeout."""


class StoreError(AgentPlatformError):
    """Base for store failures."""


class NotFoundError(StoreError):
    """A task, approval or other record does not exist."""


class ConflictError(StoreError):
    """A conditional write lost (state changed, approval already decided, key reused)."""


class SessionBusyError(ConflictError):
    """A task of the same session, submitted earlier, has not ended (`waiting_for` names it)."""

    def __init__(self, message: str, *, waiting_for: str) -> None:
        super().__init__(message)
        self.waiting_for = waiting_for
