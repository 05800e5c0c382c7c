"""A task's event log and checkpoint in DynamoDB: each save writes only what is new, in one call.

A save is one TransactWriteItems: the new events and messages (Puts) and the task item's counters
(an Update conditional on the worker's lease and on no cancel requested), so a step's write is one
call and all-or-nothing. A save too large for a transaction (over 100 items or about 4 MB: a long
history stored at once) falls back to a BatchWriteItem and then the conditional UpdateItem.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from botocore.exceptions import ClientError

from agent_runtime.checkpoint import Checkpoint
from agent_runtime.errors import ConflictError, NotFoundError, StoreError
from agent_runtime.events import Event
from agent_runtime.store.base import (
    StoredEvent,
    TaskRecord,
    checkpoint_from_header,
    checkpoint_header,
    event_row,
    now,
)
from agent_runtime.store.dynamodb.client import CONFLICT_TRIES, DynamoTable
from agent_runtime.store.dynamodb.items import Item, Update, error_code, n, s, task_pk
from agent_runtime.store.encoding import decode_messages, dumps, encode_messages, holds_input

TRANSACT_MAX_ITEMS = 100  # DynamoDB's limit on a transaction's writes (the task item's update is one)
TRANSACT_MAX_BYTES = 3_500_000  # under its 4 MB limit on a transaction, leaving room for keys and names


def _not_leased(task_id: str, task: TaskRecord, owner: str | None) -> str:
    return f"task {task_id} is leased by {task.lease_owner}, not {owner}"


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
        counters: list[tuple[str, dict[str, str]]] = []
        if events:
            counters.append(("last_seq", n(events[-1].seq)))
        if checkpoint is not None:
            counters += [("checkpoint", s(dumps(checkpoint_header(checkpoint)))), ("steps", n(checkpoint.step)),
                         ("usage", s(checkpoint.usage.model_dump_json())), ("cost_usd", n(float(checkpoint.cost_usd)))]

        if checkpoint is not None:
            task_input = await self._task_input(task_id) if holds_input(checkpoint, saved_messages) else None
            for i, m in enumerate(encode_messages(checkpoint, saved_messages, task_input)):
                items.append({**self._key(task_id, f"MSG#{saved_messages + i:08d}"), "data": s(m),
                              "expires_at": expires})
        if len(items) < TRANSACT_MAX_ITEMS and sum(len(i["data"]["S"]) for i in items) < TRANSACT_MAX_BYTES:
            return await self._transact_progress(task_id, items, counters, owner)

        def save_in_parts() -> bool:
            # Too much for one transaction (a long history stored at once): messages land before the
            # counters that reference them, so a crash in between leaves only unreferenced items.
            self._batch_put(items)
            upd = Update()
            for attr, value in counters:
                upd.set(attr, value)
            cond = f"{upd.name('lease_owner')} = {upd.value('owner', s(owner))}" if owner else ""
            return self._update_task(task_id, upd, cond, lambda t: _not_leased(task_id, t, owner)).cancel_requested

        return await self._run(save_in_parts)

    async def _transact_progress(self, task_id: str, items: list[Item], counters: list[tuple[str, dict[str, str]]],
                                 owner: str | None) -> bool:
        """The step's items and the task's counters in one TransactWriteItems, conditional on the lease and
        on no cancel having been requested; a cancel found there is told by writing again without that
        condition (a second call, once per cancelled task). Returns the task's cancel flag."""
        puts = [{"Put": {"TableName": self.table, "Item": item}} for item in items]
        check_cancel, attempt = True, 0
        while True:
            upd = Update()
            for attr, value in counters:
                upd.set(attr, value)
            upd.set("updated_at", n(now()))
            cond = "attribute_exists(pk)"
            if owner:
                cond += f" AND {upd.name('lease_owner')} = {upd.value('owner', s(owner))}"
            if check_cancel:
                cond += f" AND {upd.not_cancelled()}"
            try:
                await self._call("transact_write_items", TransactItems=[*puts, {"Update": upd.request(
                    self.table, self._key(task_id), cond)}])
                return not check_cancel
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = [str(r.get("Code") or "None") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[-1] == "ConditionalCheckFailed":
                task = await self._read_task(task_id)
                if check_cancel and task.cancel_requested and (not owner or task.lease_owner == owner):
                    check_cancel = False
                    continue
                raise ConflictError(_not_leased(task_id, task, owner))
            attempt += 1
            if attempt == CONFLICT_TRIES or not set(reasons) & {"TransactionConflict", "ThrottlingError"}:
                raise StoreError(f"DynamoDB could not save the progress of task {task_id}: {reasons}")
            await asyncio.sleep(0.01 * 2**attempt)  # another write held the task item, or the table throttled

    async def _task_input(self, task_id: str) -> str | None:
        """The task's stored input (read once per task, to store its checkpoint's task message as a reference)."""
        item = (await self._call("get_item", TableName=self.table, Key=self._key(task_id), ConsistentRead=True,
                                 ProjectionExpression="#i", ExpressionAttributeNames={"#i": "input"})).get("Item")
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
            out = self.api.query(
                TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
                ExpressionAttributeValues={":pk": s(task_pk(task_id)), ":evt": s("EVT#")},
                ScanIndexForward=False, Limit=1, ConsistentRead=True, ProjectionExpression="sk",
            )
            items = out.get("Items", [])
            return int(items[0]["sk"]["S"][4:]) if items else 0

        return await self._run(read)

    async def load_checkpoint(self, task_id: str) -> Checkpoint | None:
        def read() -> Checkpoint | None:
            item = self.api.get_item(TableName=self.table, Key=self._key(task_id), ConsistentRead=True,
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
