"""Failures and the one result shape every tool returns: `{ok, data, error}`."""

from __future__ import annotations

from typing import Any


class ToolFailure(Exception):
    """A failure the model should see and can act on (bad id, refused URL, wrong column...).

    `kind` names the failure class in the result's `error.type`.
    """

    kind = "tool_failure"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if kind:
            self.kind = kind


class NotFound(ToolFailure):
    """The document, column or object asked for does not exist."""

    kind = "not_found"


class Refused(ToolFailure):
    """The request is not allowed (e.g. a URL into a private network)."""

    kind = "refused"


def ok(data: dict[str, Any]) -> dict[str, Any]:
    """A successful result."""
    return {"ok": True, "data": data, "error": None}


def fail(kind: str, message: str) -> dict[str, Any]:
    """A failed result: a type a program can match and a message a model can act on."""
    return {"ok": False, "data": None, "error": {"type": kind, "message": message}}
