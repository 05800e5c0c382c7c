"""The task listing in DynamoDB: a Query on an agent-partitioned index, never a Scan.

Each task gets index items when it is created, in the same transaction: one in `<agent>#TASKS` (every
task of the agent) and, when it has an owner, one in `<agent>#TASKS#<owner>`. Their sort key is
`<created_at, 17 characters>#<task id>`, so a Query read backwards is newest first, and their partition
keys start with `<agent>#`, which the agent role's `dynamodb:LeadingKeys` grant already covers. The
items hold no state (it changes); a page reads its tasks with one BatchGetItem and filters by state
there, looking at no more than `MAX_EXAMINED` index items per page.
"""

from __future__ import annotations

import time
from typing import Any

from agent_runtime.store.base import ListPosition, TaskPage, TaskRecord, TaskState
from agent_runtime.store.dynamodb.client import DynamoTable
from agent_runtime.store.dynamodb.items import Item, s, task_from_item
from agent_runtime.table_keys import task_list_pk

MAX_EXAMINED = 300  # index items one page may look at (a state filter may match few of them)
BATCH_GET_MAX = 100  # keys per BatchGetItem (DynamoDB's limit)


def list_sort_key(created_at: float, task_id: str) -> str:
    """The index item's sort key: zero-padded seconds (they sort as text) and the task id."""
    return f"{created_at:017.6f}#{task_id}"


def position_of(sort_key: str) -> ListPosition:
    """The listing position an index item's sort key names."""
    created, _, task_id = sort_key.partition("#")
    return ListPosition(float(created), task_id)


class DynamoListing(DynamoTable):
    """`list_tasks` over the index items, and the items `create_task` writes."""

    def list_index_puts(self, task: TaskRecord) -> list[dict[str, Any]]:
        """The transaction writes that add a new task to the agent's listing (and its owner's)."""
        sk = s(list_sort_key(task.created_at, task.task_id))
        owners = [None] if task.owner is None else [None, task.owner]
        return [{"Put": {"TableName": self.table, "Item": {
            "pk": s(task_list_pk(task.agent, owner)), "sk": sk, "task_id": s(task.task_id),
            "expires_at": self._expires(),
        }}} for owner in owners]

    async def list_tasks(
        self, agent: str, *, owner: str | None, state: TaskState | None = None, limit: int = 20,
        after: ListPosition | None = None,
    ) -> TaskPage:
        pk = task_list_pk(agent, owner)
        return await self._run(self._list_page, pk, state, limit, after)

    def _list_page(self, pk: str, state: str | None, limit: int, after: ListPosition | None) -> TaskPage:
        """Query the index backwards from `after`, read the tasks, keep those in `state`."""
        query: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": s(pk)}, "ScanIndexForward": False,
        }
        if after is not None:
            query["ExclusiveStartKey"] = {"pk": s(pk), "sk": s(list_sort_key(after.created_at, after.task_id))}
        tasks: list[TaskRecord] = []
        examined = 0
        while True:
            want = limit - len(tasks) + 1 if state is None else BATCH_GET_MAX
            out = self.client.query(**query, Limit=min(want, MAX_EXAMINED - examined, BATCH_GET_MAX))
            items = out.get("Items", [])
            found = self._batch_get([i["task_id"]["S"] for i in items])
            for index, item in enumerate(items):
                examined += 1
                task = found.get(item["task_id"]["S"])  # None: expired, or a create that is not visible yet
                if task is not None and (state is None or task.state == state):
                    tasks.append(task)
                if len(tasks) == limit:
                    more = index < len(items) - 1 or "LastEvaluatedKey" in out
                    return TaskPage(tasks, position_of(item["sk"]["S"]) if more else None)
            if "LastEvaluatedKey" not in out:
                return TaskPage(tasks, None)
            if examined >= MAX_EXAMINED:
                return TaskPage(tasks, position_of(out["LastEvaluatedKey"]["sk"]["S"]))
            query["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def _batch_get(self, task_ids: list[str]) -> dict[str, TaskRecord]:
        """The task items of these ids (up to 100) that exist, by id; unprocessed keys are asked again."""
        if not task_ids:
            return {}
        request: dict[str, Any] = {self.table: {"Keys": [self._key(t) for t in task_ids], "ConsistentRead": True}}
        found: dict[str, TaskRecord] = {}
        for attempt in range(8):
            out = self.client.batch_get_item(RequestItems=request)
            items: list[Item] = out.get("Responses", {}).get(self.table, [])
            found.update((t.task_id, t) for t in map(task_from_item, items))
            request = out.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.02 * 2**attempt)
        return found
