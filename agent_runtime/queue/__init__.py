"""Task queues behind one protocol: in-process locally, SQS with a dead-letter queue in AWS."""

from agent_runtime.queue.base import QueueMessage, TaskQueue
from agent_runtime.queue.local import LocalQueue

__all__ = ["LocalQueue", "QueueMessage", "TaskQueue"]
