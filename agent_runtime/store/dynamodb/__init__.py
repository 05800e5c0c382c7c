"""The store in one DynamoDB table (single-table design, TTL attribute `expires_at`).

Items, by key (every partition key starts with the agent's name, see `agent_runtime.table_keys`):

| pk | sk | what |
|---|---|---|
| `<task id>` (`<agent>-<hex>`) | `TASK` | the task; its checkpoint counters in `checkpoint` (JSON) |
| `<task id>` | `EVT#<seq:010>` | one event (JSON in `data`) |
| `<task id>` | `MSG#<idx:08>` | one checkpoint message |
| `<task id>` | `APR#<call id>` | one approval |
| `<agent>#IDEM#<key>` | `IDEM` | an idempotency key -> task id and body hash |
| `<agent>/<session id>` | `MSG#<idx:08>` | one session-memory message |
| `<agent>#TASKS`, `<agent>#TASKS#<owner>` | `<created_at>#<task id>` | the task listing's index (`listing`) |
| `<agent>#QUOTA#<principal>#<yyyy-mm-dd>` | `QUOTA` | a principal's stored bytes that UTC day (`used`) |

A progress write is one TransactWriteItems of only what is new: its events and messages, and
the task item's counters conditional on the lease (`progress`). Calls use the low-level
shapes (no Decimal conversions) through the client's light client (`agent_runtime.aws_light`):
the step's calls (progress writes, task reads) on the event loop, the rest on a thread pool; the
listing and the Scan keep the boto3 client.

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
