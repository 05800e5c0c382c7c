"""The queue protocol: the API enqueues task ids, workers receive, extend, delete or dead-letter them.

Implementations: `LocalQueue` (in-process, for the local server; tasks that were in it
when the process died are re-enqueued from the store at start-up) and `SqsQueue`
(AWS, with a dead-letter queue). Delivery is at least once: a task may be received
twice, and the store's lease decides which worker runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass
class QueueMessage:
    """One delivery of a task. `receive_count` counts deliveries of this message (1 on the first)."""

    task_id: str
    agent: str
    receive_count: int
    handle: Any = None  # the implementation's receipt


@runtime_checkable
class TaskQueue(Protocol):
    """Hands task ids from the API to the workers, at least once."""

    visibility_s: float  # how long a received message stays hidden unless extended

    async def send(self, task_id: str, agent: str) -> None:
        """Enqueue the task for the agent's workers."""
        ...

    async def receive(self, max_messages: int, wait_s: float) -> list[QueueMessage]:
        """Up to `max_messages` messages, waiting up to `wait_s` seconds for the first."""
        ...

    async def extend(self, message: QueueMessage) -> None:
        """Keep the message hidden for another `visibility_s` (heartbeat while its task runs)."""
        ...

    async def delete(self, message: QueueMessage) -> None:
        """The task ended: never deliver the message again."""
        ...

    async def release(self, message: QueueMessage, delay_s: float = 0.0) -> None:
        """Deliver the message again after `delay_s`; the delivery counts toward dead-lettering
        (a worker failed at the task)."""
        ...

    async def requeue(self, message: QueueMessage, delay_s: float = 0.0) -> None:
        """Deliver the task again after `delay_s` as a fresh message whose receive count starts over,
        and drop this delivery: a worker gave the task back without failing at it (shutdown, or
        another worker holds its lease), so the give-back must never bring it closer to the
        dead-letter queue. The new copy is sent before this one is deleted, so a crash in between
        duplicates the task (the store's lease makes that harmless) rather than losing it."""
        ...

    async def dead_letter(self, message: QueueMessage, reason: str) -> None:
        """Move the message to the dead-letter queue with the reason."""
        ...

    async def close(self) -> None:
        """Release the queue's connections; no call may follow."""
        ...
