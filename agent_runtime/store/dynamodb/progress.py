"""A task's event log and checkpoint in DynamoDB: each save writes only what is new."""

from __future__ import annotations

import json
from collections.abc import Sequence

from agent_runtime.checkpoint import Checkpoint
from agent_runtime.errors import NotFoundError, StoreError
from agent_runtime.events import Event
from agent_runtime.store.base import StoredEvent, checkpoint_from_header, checkpoint_header, event_row
from agent_runtime.store.dynamodb.client import DynamoTable
from agent_runtime.store.dynamodb.items import Item, Update, n, s, task_pk
from agent_runtime.store.encoding import decode_messages, dumps, encode_messages, holds_input


class DynamoProgress(DynamoTable):
    """The events-and-checkpoints part of the `Store` protocol over DynamoDB."""

    async def save_progress(
        self, task_id: str, *, events: Sequence[Event] = (), checkpoint: Checkpoint | None = None,
        saved_messages: int = 0, owner: str | None = None,
    ) -> bool:
        expires = self._expires()
        items: list[Item] = []
        for e in events:
            r = event_row(e)
            items.append({**self._key(task_id, f"EVT#{r.seq:010d}"), "type": s(r.type), "data": s(r.data),
                          "expires_at": expires})
        upd = Update()
        if events:
            upd.set("last_seq", n(events[-1].seq))
        if checkpoint is not None:
            upd.set("checkpoint", s(dumps(checkpoint_header(checkpoint)))).set("steps", n(checkpoint.step))
            upd.set("usage", s(checkpoint.usage.model_dump_json())).set("cost_usd", n(float(checkpoint.cost_usd)))
        cond = f"{upd.name('lease_owner')} = {upd.value('owner', s(owner))}" if owner else ""

        def save() -> bool:
            if checkpoint is not None:
                task_input = self._task_input(task_id) if holds_input(checkpoint, saved_messages) else None
                for i, m in enumerate(encode_messages(checkpoint, saved_messages, task_input)):
                    items.append({**self._key(task_id, f"MSG#{saved_messages + i:08d}"), "data": s(m),
                                  "expires_at": expires})
            # Messages land before the counters that reference them: a crash in between leaves
            # only unreferenced items, overwritten by the next save.
            self._batch_put(items)
            task = self._update_task(task_id, upd, cond,
                                     lambda t: f"task {task_id} is leased by {t.lease_owner}, not {owner}")
            return task.cancel_requested  # the update returns the item: the cancel flag comes free

        return await self._run(save)

    def _task_input(self, task_id: str) -> str | None:
        """The task's stored input (read once per task, to store its checkpoint's task message as a reference)."""
        item = self.client.get_item(TableName=self.table, Key=self._key(task_id), ConsistentRead=True,
                                    ProjectionExpression="#i", ExpressionAttributeNames={"#i": "input"}).get("Item")
        return item["input"]["S"] if item and "input" in item else None

    async def list_events(self, task_id: str, *, after: int = 0, limit: int = 500) -> list[StoredEvent]:
        def read() -> list[StoredEvent]:
            items = self._query_all(
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi", ConsistentRead=True, Limit=limit,
                ExpressionAttributeValues={":pk": s(task_pk(task_id)), ":lo": s(f"EVT#{after + 1:010d}"),
                                           ":hi": s("EVT#9999999999")},
            )
            return [StoredEvent(int(i["sk"]["S"][4:]), i["type"]["S"], i["data"]["S"]) for i in items[:limit]]

        return await self._run(read)

    async def last_seq(self, task_id: str) -> int:
        def read() -> int:
            out = self.client.query(
                TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
                ExpressionAttributeValues={":pk": s(task_pk(task_id)), ":evt": s("EVT#")},
                ScanIndexForward=False, Limit=1, ConsistentRead=True, ProjectionExpression="sk",
            )
            items = out.get("Items", [])
            return int(items[0]["sk"]["S"][4:]) if items else 0

        return await self._run(read)

    async def load_checkpoint(self, task_id: str) -> Checkpoint | None:
        def read() -> Checkpoint | None:
            item = self.client.get_item(TableName=self.table, Key=self._key(task_id), ConsistentRead=True,
                                        ProjectionExpression="pk, #c, #i",
                                        ExpressionAttributeNames={"#c": "checkpoint", "#i": "input"}
                                        ).get("Item")
            if item is None:
                raise NotFoundError(f"task {task_id!r} not found")
            if "checkpoint" not in item:
                return None
            header = json.loads(item["checkpoint"]["S"])
            count = int(header["count"])
            if count == 0:
                return checkpoint_from_header(header, [])
            msgs = self._query_all(
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi", ConsistentRead=True,
                ExpressionAttributeValues={":pk": s(task_pk(task_id)), ":lo": s("MSG#00000000"),
                                           ":hi": s(f"MSG#{count - 1:08d}")},
            )
            if len(msgs) != count:
                raise StoreError(f"checkpoint of task {task_id} is missing messages ({len(msgs)} of {count})")
            return checkpoint_from_header(header, decode_messages([m["data"]["S"] for m in msgs],
                                                                  item["input"]["S"], task_id))

        return await self._run(read)
