"""The store in one DynamoDB table (single-table design, TTL attribute `expires_at`).

Items, by key:

| pk | sk | what |
|---|---|---|
| `TASK#<id>` | `TASK` | the task; its checkpoint counters in `checkpoint` (JSON) |
| `TASK#<id>` | `EVT#<seq:010>` | one event (JSON in `data`) |
| `TASK#<id>` | `MSG#<idx:08>` | one checkpoint message |
| `TASK#<id>` | `APR#<call id>` | one approval |
| `IDEM#<agent>#<key>` | `IDEM` | an idempotency key -> task id and body hash |
| `SESSION#<id>` | `MSG#<idx:08>` | one session-memory message |

A step writes only what is new: its events and messages (one BatchWriteItem) and the
task item's counters (one conditional UpdateItem). Calls go through the low-level
client (no Decimal conversions) on a thread pool.

One part per concern, joined here: tasks and leases (`tasks`), events and checkpoints
(`progress`), approvals (`approvals`), session memory (`sessions`); attribute encoding
in `items`.
"""

from __future__ import annotations

from agent_runtime.store.dynamodb.approvals import DynamoApprovals
from agent_runtime.store.dynamodb.items import create_table
from agent_runtime.store.dynamodb.progress import DynamoProgress
from agent_runtime.store.dynamodb.sessions import DynamoSessions
from agent_runtime.store.dynamodb.tasks import DynamoTasks

__all__ = ["DynamoStore", "create_table"]


class DynamoStore(DynamoTasks, DynamoProgress, DynamoApprovals, DynamoSessions):
    """`Store` over one DynamoDB table. Also serves as the loop's session `Memory`."""
