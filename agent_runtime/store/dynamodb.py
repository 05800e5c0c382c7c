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
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from agent_runtime.errors import ConflictError, NotFoundError, StoreError
from agent_runtime.events import Event, TerminalEvent, Usage
from agent_runtime.loop import Checkpoint
from agent_runtime.models.base import Message
from agent_runtime.store.base import (
    ACTIVE_STATES,
    DEFAULT_RETENTION_S,
    IDEMPOTENCY_RETENTION_S,
    MAX_SESSION_MESSAGES,
    SESSION_RETENTION_S,
    ApprovalRecord,
    StoredEvent,
    TaskRecord,
    TaskState,
    checkpoint_from_header,
    checkpoint_header,
    claim_conflict,
    decide_conflict,
    event_row,
    now,
    terminal_fields,
    trim_session,
)

T = TypeVar("T")
Item = dict[str, dict[str, Any]]

_TASK_SK = "TASK"


def _task_pk(task_id: str) -> str:
    return f"TASK#{task_id}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _num(attr: dict[str, str] | None, default: float = 0.0) -> float:
    return float(attr["N"]) if attr else default


def _str(attr: dict[str, Any] | None) -> str | None:
    return attr["S"] if attr else None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def create_table(client: Any, table_name: str) -> None:
    """Create the table as the CDK stack does (pk/sk strings, on demand, TTL on `expires_at`).

    For tests and DynamoDB-compatible local endpoints; in AWS the stack owns the table.
    """
    client.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


def _task_from_item(item: Item) -> TaskRecord:
    return TaskRecord(
        task_id=item["pk"]["S"].removeprefix("TASK#"), agent=item["agent"]["S"], input=item["input"]["S"],
        state=item["state"]["S"], session_id=_str(item.get("session_id")),  # type: ignore[arg-type]
        metadata=json.loads(item["metadata"]["S"]), limits=json.loads(item["limits"]["S"]),
        created_at=_num(item.get("created_at")), updated_at=_num(item.get("updated_at")),
        started_at=_num(item["started_at"]) if "started_at" in item else None,
        finished_at=_num(item["finished_at"]) if "finished_at" in item else None,
        answer=_str(item.get("answer")), error=_str(item.get("error")), stop_reason=_str(item.get("stop_reason")),
        steps=int(_num(item.get("steps"))), usage=Usage.model_validate_json(item["usage"]["S"]),
        cost_usd=_num(item.get("cost_usd")), last_seq=int(_num(item.get("last_seq"))),
        cancel_requested=bool(item.get("cancel_requested", {}).get("BOOL", False)),
        attempts=int(_num(item.get("attempts"))), lease_owner=_str(item.get("lease_owner")),
        lease_until=_num(item.get("lease_until")),
    )


def _approval_item(a: ApprovalRecord, expires_at: float) -> Item:
    item: Item = {
        "pk": _s(_task_pk(a.task_id)), "sk": _s(f"APR#{a.call_id}"), "tool": _s(a.tool),
        "arguments": _s(json.dumps(a.arguments)), "step": _n(a.step), "deadline": _n(float(a.deadline)),
        "requested_at": _n(float(a.requested_at or now())), "status": _s(a.status), "expires_at": _n(int(expires_at)),
    }
    return item


def _approval_from_item(item: Item) -> ApprovalRecord:
    return ApprovalRecord(
        task_id=item["pk"]["S"].removeprefix("TASK#"), call_id=item["sk"]["S"].removeprefix("APR#"),
        tool=item["tool"]["S"], arguments=json.loads(item["arguments"]["S"]), step=int(_num(item["step"])),
        deadline=_num(item["deadline"]), requested_at=_num(item.get("requested_at")),
        status=item["status"]["S"],  # type: ignore[arg-type]
        reason=_str(item.get("reason")), decided_by=_str(item.get("decided_by")),
        decided_at=_num(item["decided_at"]) if "decided_at" in item else None,
    )


class _Update:
    """Builds an UpdateItem expression from attribute values, with placeholders for every name."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attr: str) -> str:
        self.names[f"#{attr}"] = attr
        return f"#{attr}"

    def value(self, key: str, value: dict[str, Any]) -> str:
        self.values[f":{key}"] = value
        return f":{key}"

    def set(self, attr: str, value: dict[str, Any] | None) -> _Update:
        if value is None:
            self.removes.append(self.name(attr))
        else:
            self.sets.append(f"{self.name(attr)} = {self.value(attr, value)}")
        return self

    def expression(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)

    def states_in(self, states: Collection[str]) -> str:
        marks = [self.value(f"st{i}", _s(s)) for i, s in enumerate(sorted(states))]
        return f"{self.name('state')} IN ({', '.join(marks)})"

    def request(self, table: str, key: Item, condition: str) -> dict[str, Any]:
        req: dict[str, Any] = {
            "TableName": table, "Key": key, "UpdateExpression": self.expression(),
            "ConditionExpression": condition, "ExpressionAttributeNames": self.names,
        }
        if self.values:
            req["ExpressionAttributeValues"] = self.values
        return req


class DynamoStore:
    """`Store` over one DynamoDB table. Also serves as the loop's session `Memory`."""

    def __init__(
        self, table_name: str, *, client: Any = None, retention_s: float = DEFAULT_RETENTION_S, threads: int = 16
    ) -> None:
        if not table_name:
            raise ValueError("DynamoStore needs a table name")
        self.table = table_name
        # boto3 reads the region and AWS_ENDPOINT_URL from the environment.
        self.client = client or boto3.client(
            "dynamodb", config=Config(max_pool_connections=threads * 2, retries={"mode": "standard"})
        )
        self.retention_s = retention_s
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dynamo-store")

    # -- plumbing ------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except ClientError as exc:
            if _code(exc) in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise
            raise StoreError(f"DynamoDB {_code(exc)}: {exc}") from exc

    def _expires(self, ttl: float | None = None) -> dict[str, str]:
        return _n(int(time.time() + (ttl or self.retention_s)))

    def _key(self, task_id: str, sk: str = _TASK_SK) -> Item:
        return {"pk": _s(_task_pk(task_id)), "sk": _s(sk)}

    def _get_task(self, task_id: str) -> TaskRecord:
        item = self.client.get_item(TableName=self.table, Key=self._key(task_id), ConsistentRead=True).get("Item")
        if item is None:
            raise NotFoundError(f"task {task_id!r} not found")
        return _task_from_item(item)

    def _update_task(self, task_id: str, upd: _Update, condition: str, explain: Callable[[TaskRecord], str]) -> TaskRecord:
        upd.set("updated_at", _n(now()))
        cond = f"attribute_exists(pk) AND ({condition})" if condition else "attribute_exists(pk)"
        try:
            out = self.client.update_item(**upd.request(self.table, self._key(task_id), cond), ReturnValues="ALL_NEW")
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            raise ConflictError(explain(self._get_task(task_id))) from None
        return _task_from_item(out["Attributes"])

    def _batch_put(self, items: list[Item]) -> None:
        for i in range(0, len(items), 25):
            requests: list[dict[str, Any]] = [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]
            pending: dict[str, Any] = {self.table: requests}
            for attempt in range(8):
                out = self.client.batch_write_item(RequestItems=pending)
                pending = out.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise StoreError("DynamoDB kept throttling a batch write")

    def _query_all(self, **kwargs: Any) -> list[Item]:
        items: list[Item] = []
        limit = kwargs.get("Limit")
        while True:
            out = self.client.query(TableName=self.table, **kwargs)
            items.extend(out.get("Items", []))
            key = out.get("LastEvaluatedKey")
            if key is None or (limit is not None and len(items) >= limit):
                return items
            kwargs["ExclusiveStartKey"] = key
            if limit is not None:
                kwargs["Limit"] = limit - len(items)

    async def close(self) -> None:
        self._executor.shutdown(wait=True)

    # -- tasks ---------------------------------------------------------------

    async def create_task(
        self, task: TaskRecord, *, idempotency_key: str | None = None, body_hash: str | None = None
    ) -> tuple[TaskRecord, bool]:
        t = now()
        task.created_at = task.created_at or t
        task.updated_at = t
        item: Item = {
            **self._key(task.task_id), "agent": _s(task.agent), "state": _s(task.state), "input": _s(task.input),
            "metadata": _s(json.dumps(task.metadata)), "limits": _s(json.dumps(task.limits)),
            "created_at": _n(task.created_at), "updated_at": _n(t), "steps": _n(0),
            "usage": _s(task.usage.model_dump_json()), "cost_usd": _n(0), "last_seq": _n(0),
            "cancel_requested": {"BOOL": False}, "attempts": _n(0), "lease_until": _n(0),
            "expires_at": self._expires(),
        }
        if task.session_id is not None:
            item["session_id"] = _s(task.session_id)
        put_task = {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

        def create() -> tuple[TaskRecord, bool]:
            if idempotency_key is None:
                try:
                    self.client.put_item(**put_task["Put"])
                except ClientError as exc:
                    if _code(exc) == "ConditionalCheckFailedException":
                        raise ConflictError(f"task {task.task_id!r} already exists") from None
                    raise
                return task, True
            idem_key = {"pk": _s(f"IDEM#{task.agent}#{idempotency_key}"), "sk": _s("IDEM")}
            put_idem = {"Put": {
                "TableName": self.table,
                "Item": {**idem_key, "task_id": _s(task.task_id), "body_hash": _s(body_hash or ""),
                         "expires_at": self._expires(IDEMPOTENCY_RETENTION_S)},
                "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                "ExpressionAttributeValues": {":now": _n(int(t))},
            }}
            try:
                self.client.transact_write_items(TransactItems=[put_idem, put_task])
                return task, True
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if reasons and reasons[0] != "ConditionalCheckFailed":
                    raise StoreError(f"could not create task: {reasons}") from None
            existing = self.client.get_item(TableName=self.table, Key=idem_key, ConsistentRead=True).get("Item")
            if existing is None:  # expired between the two calls; the caller may retry
                raise ConflictError("the Idempotency-Key is being reused concurrently; retry")
            if existing["body_hash"]["S"] != (body_hash or ""):
                raise ConflictError("the Idempotency-Key was already used with a different request body")
            return self._get_task(existing["task_id"]["S"]), False

        return await self._run(create)

    async def get_task(self, task_id: str) -> TaskRecord:
        return await self._run(self._get_task, task_id)

    async def claim_task(self, task_id: str, *, owner: str, lease_s: float) -> TaskRecord:
        t = now()

        def claim() -> TaskRecord:
            upd = _Update().set("state", _s("running")).set("lease_owner", _s(owner)).set("lease_until", _n(t + lease_s))
            upd.sets.append(f"{upd.name('attempts')} = {upd.name('attempts')} + {upd.value('one', _n(1))}")
            upd.sets.append(f"{upd.name('started_at')} = if_not_exists({upd.name('started_at')}, {upd.value('t', _n(t))})")
            cond = (f"{upd.states_in(ACTIVE_STATES)} AND (attribute_not_exists({upd.name('lease_owner')}) "
                    f"OR {upd.name('lease_owner')} = :lease_owner OR {upd.name('lease_until')} < :t)")
            return self._update_task(task_id, upd, cond, claim_conflict)

        return await self._run(claim)

    async def renew_lease(self, task_id: str, *, owner: str, lease_s: float) -> TaskRecord:
        def renew() -> TaskRecord:
            upd = _Update().set("lease_until", _n(now() + lease_s))
            cond = f"{upd.name('lease_owner')} = {upd.value('owner', _s(owner))} AND {upd.states_in(ACTIVE_STATES)}"
            return self._update_task(
                task_id, upd, cond, lambda t: f"lease on task {task_id} lost (state {t.state}, owner {t.lease_owner})"
            )

        return await self._run(renew)

    async def release_lease(self, task_id: str, *, owner: str, refund_attempt: bool = False) -> None:
        def release() -> None:
            upd = _Update().set("lease_owner", None).set("lease_until", _n(0))
            cond = f"{upd.name('lease_owner')} = {upd.value('owner', _s(owner))}"
            if refund_attempt:
                upd.sets.append(f"{upd.name('attempts')} = {upd.name('attempts')} - {upd.value('one', _n(1))}")
                cond += f" AND {upd.name('attempts')} > {upd.value('zero', _n(0))}"
            try:
                self._update_task(task_id, upd, cond, lambda t: "not the owner")
            except (ConflictError, NotFoundError):
                pass  # someone else holds it, or it is gone: nothing to give up

        await self._run(release)

    async def set_state(self, task_id: str, state: TaskState, *, from_states: Collection[str]) -> TaskRecord:
        def update() -> TaskRecord:
            upd = _Update()
            cond = upd.states_in(from_states)
            upd.set("state", _s(state))
            return self._update_task(
                task_id, upd, cond, lambda t: f"task {task_id} is {t.state}, not {' or '.join(sorted(from_states))}"
            )

        return await self._run(update)

    async def request_cancel(self, task_id: str) -> TaskRecord:
        def update() -> TaskRecord:
            upd = _Update().set("cancel_requested", {"BOOL": True})
            return self._update_task(task_id, upd, upd.states_in(ACTIVE_STATES),
                                     lambda t: f"task {task_id} already {t.state}")

        return await self._run(update)

    async def finish_task(
        self, task_id: str, event: TerminalEvent, *, owner: str | None = None,
        from_states: Collection[str] = ACTIVE_STATES,
    ) -> TaskRecord:
        f = terminal_fields(event)
        row = event_row(event)

        def finish() -> TaskRecord:
            upd = _Update()
            cond = "attribute_exists(pk) AND " + upd.states_in(from_states)
            if owner:
                cond += f" AND {upd.name('lease_owner')} = {upd.value('owner', _s(owner))}"
            upd.set("state", _s(f["state"])).set("stop_reason", _s(f["stop_reason"])).set("steps", _n(f["steps"]))
            upd.set("answer", _s(f["answer"]) if f["answer"] is not None else None)
            upd.set("error", _s(f["error"]) if f["error"] is not None else None)
            upd.set("usage", _s(f["usage"].model_dump_json())).set("cost_usd", _n(float(f["cost_usd"])))
            upd.set("last_seq", _n(f["last_seq"])).set("finished_at", _n(float(f["finished_at"])))
            upd.set("updated_at", _n(now())).set("lease_owner", None).set("lease_until", _n(0))
            event_item = {**self._key(task_id, f"EVT#{row.seq:010d}"), "type": _s(row.type), "data": _s(row.data),
                          "expires_at": self._expires()}
            try:
                self.client.transact_write_items(TransactItems=[
                    {"Update": upd.request(self.table, self._key(task_id), cond)},
                    {"Put": {"TableName": self.table, "Item": event_item,
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                ])
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                task = self._get_task(task_id)
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    raise ConflictError(f"task {task_id} is {task.state}; it cannot become {f['state']}") from None
                raise ConflictError(f"event {row.seq} of task {task_id} already exists") from None
            return self._get_task(task_id)

        return await self._run(finish)

    async def active_tasks(self, agents: Collection[str]) -> list[TaskRecord]:
        def scan() -> list[TaskRecord]:
            upd = _Update()
            agent_marks = [upd.value(f"a{i}", _s(a)) for i, a in enumerate(sorted(agents))]
            expr = (f"sk = {upd.value('sk', _s(_TASK_SK))} AND {upd.states_in(ACTIVE_STATES)} "
                    f"AND {upd.name('agent')} IN ({', '.join(agent_marks)})")
            kwargs: dict[str, Any] = {"TableName": self.table, "FilterExpression": expr,
                                      "ExpressionAttributeNames": upd.names, "ExpressionAttributeValues": upd.values}
            tasks: list[TaskRecord] = []
            while True:
                out = self.client.scan(**kwargs)
                tasks.extend(_task_from_item(i) for i in out.get("Items", []))
                if "LastEvaluatedKey" not in out:
                    return sorted(tasks, key=lambda t: t.created_at)
                kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

        if not agents:
            return []
        return await self._run(scan)

    # -- events and checkpoints ---------------------------------------------------

    async def save_progress(
        self, task_id: str, *, events: Sequence[Event] = (), checkpoint: Checkpoint | None = None,
        saved_messages: int = 0, owner: str | None = None,
    ) -> None:
        expires = self._expires()
        items: list[Item] = []
        for e in events:
            r = event_row(e)
            items.append({**self._key(task_id, f"EVT#{r.seq:010d}"), "type": _s(r.type), "data": _s(r.data),
                          "expires_at": expires})
        upd = _Update()
        if events:
            upd.set("last_seq", _n(events[-1].seq))
        if checkpoint is not None:
            for i, m in enumerate(checkpoint.messages[saved_messages:]):
                items.append({**self._key(task_id, f"MSG#{saved_messages + i:08d}"), "data": _s(json.dumps(m)),
                              "expires_at": expires})
            upd.set("checkpoint", _s(json.dumps(checkpoint_header(checkpoint)))).set("steps", _n(checkpoint.step))
            upd.set("usage", _s(checkpoint.usage.model_dump_json())).set("cost_usd", _n(float(checkpoint.cost_usd)))
        cond = f"{upd.name('lease_owner')} = {upd.value('owner', _s(owner))}" if owner else ""

        def save() -> None:
            # Messages land before the counters that reference them: a crash in between leaves
            # only unreferenced items, overwritten by the next save.
            self._batch_put(items)
            self._update_task(task_id, upd, cond,
                              lambda t: f"task {task_id} is leased by {t.lease_owner}, not {owner}")

        await self._run(save)

    async def list_events(self, task_id: str, *, after: int = 0, limit: int = 500) -> list[StoredEvent]:
        def read() -> list[StoredEvent]:
            items = self._query_all(
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi", ConsistentRead=True, Limit=limit,
                ExpressionAttributeValues={":pk": _s(_task_pk(task_id)), ":lo": _s(f"EVT#{after + 1:010d}"),
                                           ":hi": _s("EVT#9999999999")},
            )
            return [StoredEvent(int(i["sk"]["S"][4:]), i["type"]["S"], i["data"]["S"]) for i in items[:limit]]

        return await self._run(read)

    async def last_seq(self, task_id: str) -> int:
        def read() -> int:
            out = self.client.query(
                TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
                ExpressionAttributeValues={":pk": _s(_task_pk(task_id)), ":evt": _s("EVT#")},
                ScanIndexForward=False, Limit=1, ConsistentRead=True, ProjectionExpression="sk",
            )
            items = out.get("Items", [])
            return int(items[0]["sk"]["S"][4:]) if items else 0

        return await self._run(read)

    async def load_checkpoint(self, task_id: str) -> Checkpoint | None:
        def read() -> Checkpoint | None:
            item = self.client.get_item(TableName=self.table, Key=self._key(task_id), ConsistentRead=True,
                                        ProjectionExpression="pk, #c", ExpressionAttributeNames={"#c": "checkpoint"}
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
                ExpressionAttributeValues={":pk": _s(_task_pk(task_id)), ":lo": _s("MSG#00000000"),
                                           ":hi": _s(f"MSG#{count - 1:08d}")},
            )
            if len(msgs) != count:
                raise StoreError(f"checkpoint of task {task_id} is missing messages ({len(msgs)} of {count})")
            return checkpoint_from_header(header, [json.loads(m["data"]["S"]) for m in msgs])

        return await self._run(read)

    # -- approvals ----------------------------------------------------------------------

    def _get_approval(self, task_id: str, call_id: str) -> ApprovalRecord:
        item = self.client.get_item(TableName=self.table, Key=self._key(task_id, f"APR#{call_id}"),
                                    ConsistentRead=True).get("Item")
        if item is None:
            raise NotFoundError(f"no approval {call_id!r} for task {task_id!r}")
        return _approval_from_item(item)

    async def create_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        def create() -> ApprovalRecord:
            item = _approval_item(approval, time.time() + self.retention_s)
            try:
                self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
            return self._get_approval(approval.task_id, approval.call_id)

        return await self._run(create)

    async def get_approval(self, task_id: str, call_id: str) -> ApprovalRecord:
        return await self._run(self._get_approval, task_id, call_id)

    async def list_approvals(self, task_id: str, *, pending_only: bool = False) -> list[ApprovalRecord]:
        def read() -> list[ApprovalRecord]:
            items = self._query_all(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :apr)", ConsistentRead=True,
                ExpressionAttributeValues={":pk": _s(_task_pk(task_id)), ":apr": _s("APR#")},
            )
            records = sorted((_approval_from_item(i) for i in items), key=lambda a: (a.requested_at, a.call_id))
            return [a for a in records if a.status == "pending" or not pending_only]

        return await self._run(read)

    async def decide_approval(
        self, task_id: str, call_id: str, *, approved: bool, reason: str | None, decided_by: str,
        enforce_deadline: bool = True,
    ) -> ApprovalRecord:
        def decide() -> ApprovalRecord:
            t = now()
            upd = _Update().set("status", _s("approved" if approved else "rejected"))
            upd.set("reason", _s(reason) if reason is not None else None)
            upd.set("decided_by", _s(decided_by)).set("decided_at", _n(t))
            cond = f"attribute_exists(pk) AND {upd.name('status')} = {upd.value('pending', _s('pending'))}"
            if enforce_deadline:
                cond += f" AND {upd.name('deadline')} >= {upd.value('now', _n(t))}"
            try:
                out = self.client.update_item(
                    **upd.request(self.table, self._key(task_id, f"APR#{call_id}"), cond), ReturnValues="ALL_NEW"
                )
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                raise ConflictError(decide_conflict(self._get_approval(task_id, call_id))) from None
            return _approval_from_item(out["Attributes"])

        return await self._run(decide)

    # -- session memory ---------------------------------------------------------------------

    async def load(self, session_id: str) -> list[Message]:
        def read() -> list[Message]:
            items = self._query_all(
                KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": _s(f"SESSION#{session_id}")},
                ScanIndexForward=False, Limit=MAX_SESSION_MESSAGES, ConsistentRead=True,
            )
            return trim_session([json.loads(i["data"]["S"]) for i in reversed(items)])

        return await self._run(read)

    async def append(self, session_id: str, messages: list[Message]) -> None:
        pk = _s(f"SESSION#{session_id}")

        def add() -> None:
            for attempt in range(6):
                out = self.client.query(TableName=self.table, KeyConditionExpression="pk = :pk",
                                        ExpressionAttributeValues={":pk": pk}, ScanIndexForward=False, Limit=1,
                                        ConsistentRead=True, ProjectionExpression="sk")
                items = out.get("Items", [])
                start = int(items[0]["sk"]["S"][4:]) + 1 if items else 0
                expires = self._expires(SESSION_RETENTION_S)
                puts = [{"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                                 "Item": {"pk": pk, "sk": _s(f"MSG#{start + i:08d}"), "data": _s(json.dumps(m)),
                                          "expires_at": expires}}} for i, m in enumerate(messages)]
                try:
                    self.client.transact_write_items(TransactItems=puts[:100])
                except ClientError as exc:  # another task of the session appended first: recount
                    if _code(exc) != "TransactionCanceledException" or attempt == 5:
                        raise
                    time.sleep(0.05 * (attempt + 1))
                    continue
                for i in range(100, len(puts), 100):  # the indexes are ours now
                    self.client.transact_write_items(TransactItems=puts[i:i + 100])
                return

        if messages:
            await self._run(add)
