"""Durable task state behind one protocol: SQLite locally, DynamoDB in AWS."""

from agent_runtime.store.base import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    ApprovalRecord,
    Store,
    StoredEvent,
    TaskRecord,
    TaskState,
    request_hash,
)

__all__ = [
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "ApprovalRecord",
    "Store",
    "StoredEvent",
    "TaskRecord",
    "TaskState",
    "request_hash",
]
