"""How both stores write JSON and a checkpoint's messages.

JSON is written as UTF-8 (`ensure_ascii=False`, no spaces): an emoji costs its 4 bytes, not the
12 of a `\\ud83d\\ude00` escape pair. A checkpoint's task message (the user message at `pinned`)
holds the task's input, which the task record stores already; it is stored as a reference with
the input's digest and filled in again from the record when the checkpoint is loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from agent_runtime.checkpoint import Checkpoint
from agent_runtime.errors import StoreError
from agent_runtime.models.base import Message

# The key a stored task message has instead of `content`.
INPUT_REF = "content_from_task_input"


def dumps(value: Any) -> str:
    """`value` as compact JSON text with non-ASCII characters kept as they are."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def holds_input(checkpoint: Checkpoint, start: int) -> bool:
    """Whether the checkpoint's messages from `start` on include its task message (the store then
    compares it with the task's input, once per task)."""
    return start <= checkpoint.pinned < len(checkpoint.messages)


def encode_messages(checkpoint: Checkpoint, start: int, task_input: str | None = None) -> list[str]:
    """The checkpoint's messages from `start` on as JSON text; the task message becomes a reference
    when it is exactly `task_input` (the caller read it from the task record)."""
    out = []
    for i, message in enumerate(checkpoint.messages[start:], start):
        content = message.get("content")
        if (i == checkpoint.pinned and task_input is not None and message.get("role") == "user"
                and content == task_input):
            out.append(dumps({"role": "user", INPUT_REF: _digest(task_input)}))
        else:
            out.append(dumps(message))
    return out


def decode_messages(raw: Sequence[str], task_input: str, task_id: str) -> list[Message]:
    """The messages again, the task message filled in from the task's input."""
    messages: list[Message] = []
    for text in raw:
        message = json.loads(text)
        if INPUT_REF in message:
            if message[INPUT_REF] != _digest(task_input):
                raise StoreError(f"task {task_id}: its input changed since its checkpoint referred to it")
            message = {"role": "user", "content": task_input}
        messages.append(message)
    return messages
