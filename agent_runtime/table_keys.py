"""The shared table's partition keys, defined once: the DynamoDB store writes them and the stacks
grant each agent's role exactly its own (the IAM condition key `dynamodb:LeadingKeys`).

Every partition key an agent's items use starts with the agent's name and one separator:

| separator | partition key | items |
|---|---|---|
| `-` | `<agent>-<hex>` (the task id) | the task, its events, checkpoint messages and approvals |
| `#` | `<agent>#IDEM#<key>` | one idempotency key |
| `/` | `<agent>/<session id>` | one session's memory (the worker scopes session ids by agent) |
| `#` | `<agent>#TASKS`, `<agent>#TASKS#<owner>` | the task listing's index: one item per task, newest first |
| `#` | `<agent>#QUOTA#<principal>#<yyyy-mm-dd>` | a principal's stored bytes on the agent that UTC day |

Agent names are lowercase letters, digits and underscores (`AGENT_NAME`), so no agent's prefix is
the start of another's: `research-*` cannot match a task of an agent named `research-v2`.
Importing this module stays cheap (the CDK app imports it).
"""

from __future__ import annotations

import re
import uuid

AGENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
TASK_SEPARATOR = "-"
IDEMPOTENCY_SEPARATOR = "#"
SESSION_SEPARATOR = "/"


def task_id_prefix(agent: str) -> str:
    """What every task id of `agent` starts with; the task id is its items' partition key."""
    return agent + TASK_SEPARATOR


def new_task_id(agent: str) -> str:
    """A fresh task id of `agent`: `<agent>-<32 hex digits>`."""
    return task_id_prefix(agent) + uuid.uuid4().hex


def owns_task(agent: str, task_id: str) -> bool:
    """Whether `task_id` is one of `agent`'s (by its prefix; the agent's role can reach no other)."""
    return task_id.startswith(task_id_prefix(agent))


def idempotency_pk(agent: str, key: str) -> str:
    """The partition key of `agent`'s Idempotency-Key `key` (keys are per agent)."""
    return f"{agent}{IDEMPOTENCY_SEPARATOR}IDEM#{key}"


def task_list_pk(agent: str, owner: str | None = None) -> str:
    """The partition key of `agent`'s task listing: every task (`owner` None), or one principal's."""
    base = f"{agent}{IDEMPOTENCY_SEPARATOR}TASKS"
    return base if owner is None else f"{base}#{owner}"


def quota_pk(agent: str, principal: str, day: str) -> str:
    """The partition key of `principal`'s stored-bytes counter on `agent` for the UTC `day` (yyyy-mm-dd)."""
    return f"{agent}{IDEMPOTENCY_SEPARATOR}QUOTA#{principal}#{day}"


def scoped_session(agent: str, session_id: str) -> str:
    """A caller's session id scoped to `agent`: the same id under two agents is two conversations."""
    return agent + SESSION_SEPARATOR + session_id


def leading_key_patterns(agent: str) -> tuple[str, ...]:
    """IAM `StringLike` patterns matching exactly the partition keys of `agent`'s items."""
    return tuple(f"{agent}{sep}*" for sep in (TASK_SEPARATOR, IDEMPOTENCY_SEPARATOR, SESSION_SEPARATOR))
