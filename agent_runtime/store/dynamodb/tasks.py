"""Tasks and their leases in DynamoDB: conditional UpdateItems on the task item, idempotent creation."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime.errors import ConflictError, NotFoundError, StoreError
from agent_runtime.events import TerminalEvent
from agent_runtime.store.base import (
    ACTIVE_STATES,
    IDEMPOTENCY_RETENTION_S,
    TaskRecord,
    TaskState,
    claim_conflict,
    event_row,
    now,
    terminal_fields,
)
from agent_runtime.store.dynamodb.client import DynamoTable
from agent_runtime.store.dynamodb.items import TASK_SK, Item, Update, error_code, n, s, task_from_item
from agent_runtime.store.encoding import dumps
from agent_runtime.table_keys import idempotency_pk, owns_task, task_id_prefix


class DynamoTasks(DynamoTable):
    """The task half of the `Store` protocol over DynamoDB."""

    async def create_task(
        self, task: TaskRecord, *, idempotency_key: str | None = None, body_hash: str | None = None
    ) -> tuple[TaskRecord, bool]:
        if not owns_task(task.agent, task.task_id):  # its items would be outside the agent's IAM-granted keys
            raise ValueError(f"task id {task.task_id!r} must start with {task_id_prefix(task.agent)!r}")
        t = now()
        task.created_at = task.created_at or t
        task.updated_at = t
        item: Item = {
            **self._key(task.task_id), "agent": s(task.agent), "state": s(task.state), "input": s(task.input),
            "metadata": s(dumps(task.metadata)), "limits": s(dumps(task.limits)),
            "created_at": n(task.created_at), "updated_at": n(t), "steps": n(0),
            "usage": s(task.usage.model_dump_json()), "cost_usd": n(0), "last_seq": n(0),
            "cancel_requested": {"BOOL": False}, "attempts": n(0), "lease_until": n(0),
            "expires_at": self._expires(),
        }
        if task.session_id is not None:
            item["session_id"] = s(task.session_id)
        if task.owner is not None:
            item["owner"] = s(task.owner)
        put_task = {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

        def create() -> tuple[TaskRecord, bool]:
            if idempotency_key is None:
                try:
                    self.client.put_item(**put_task["Put"])
                except ClientError as exc:
                    if error_code(exc) == "ConditionalCheckFailedException":
                        raise ConflictError(f"task {task.task_id!r} already exists") from None
                    raise
                return task, True
            idem_key = {"pk": s(idempotency_pk(task.agent, idempotency_key)), "sk": s("IDEM")}
            put_idem = {"Put": {
                "TableName": self.table,
                "Item": {**idem_key, "task_id": s(task.task_id), "body_hash": s(body_hash or ""),
                         "expires_at": self._expires(IDEMPOTENCY_RETENTION_S)},
                "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                "ExpressionAttributeValues": {":now": n(int(t))},
            }}
            try:
                self.client.transact_write_items(TransactItems=[put_idem, put_task])
                return task, True
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
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
            upd = Update().set("state", s("running")).set("lease_owner", s(owner)).set("lease_until", n(t + lease_s))
            upd.sets.append(f"{upd.name('attempts')} = {upd.name('attempts')} + {upd.value('one', n(1))}")
            upd.sets.append(f"{upd.name('started_at')} = if_not_exists({upd.name('started_at')}, {upd.value('t', n(t))})")
            cond = (f"{upd.states_in(ACTIVE_STATES)} AND (attribute_not_exists({upd.name('lease_owner')}) "
                    f"OR {upd.name('lease_owner')} = :lease_owner OR {upd.name('lease_until')} < :t)")
            return self._update_task(task_id, upd, cond, claim_conflict)

        return await self._run(claim)

    async def renew_lease(self, task_id: str, *, owner: str, lease_s: float) -> TaskRecord:
        def renew() -> TaskRecord:
            upd = Update().set("lease_until", n(now() + lease_s))
            cond = f"{upd.name('lease_owner')} = {upd.value('owner', s(owner))} AND {upd.states_in(ACTIVE_STATES)}"
            return self._update_task(
                task_id, upd, cond, lambda t: f"lease on task {task_id} lost (state {t.state}, owner {t.lease_owner})"
            )

        return await self._run(renew)

    async def release_lease(self, task_id: str, *, owner: str, refund_attempt: bool = False) -> None:
        def release() -> None:
            upd = Update().set("lease_owner", None).set("lease_until", n(0))
            cond = f"{upd.name('lease_owner')} = {upd.value('owner', s(owner))}"
            if refund_attempt:
                upd.sets.append(f"{upd.name('attempts')} = {upd.name('attempts')} - {upd.value('one', n(1))}")
                cond += f" AND {upd.name('attempts')} > {upd.value('zero', n(0))}"
            try:
                self._update_task(task_id, upd, cond, lambda t: "not the owner")
            except (ConflictError, NotFoundError):
                pass  # someone else holds it, or it is gone: nothing to give up

        await self._run(release)

    async def set_state(self, task_id: str, state: TaskState, *, from_states: Collection[str]) -> TaskRecord:
        def update() -> TaskRecord:
            upd = Update()
            cond = upd.states_in(from_states)
            upd.set("state", s(state))
            return self._update_task(
                task_id, upd, cond, lambda t: f"task {task_id} is {t.state}, not {' or '.join(sorted(from_states))}"
            )

        return await self._run(update)

    async def request_cancel(self, task_id: str) -> TaskRecord:
        def update() -> TaskRecord:
            upd = Update().set("cancel_requested", {"BOOL": True})
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
            upd = Update()
            cond = "attribute_exists(pk) AND " + upd.states_in(from_states)
            if owner:
                cond += f" AND {upd.name('lease_owner')} = {upd.value('owner', s(owner))}"
            upd.set("state", s(f["state"])).set("stop_reason", s(f["stop_reason"])).set("steps", n(f["steps"]))
            upd.set("answer", s(f["answer"]) if f["answer"] is not None else None)
            upd.set("error", s(f["error"]) if f["error"] is not None else None)
            upd.set("usage", s(f["usage"].model_dump_json())).set("cost_usd", n(float(f["cost_usd"])))
            upd.set("last_seq", n(f["last_seq"])).set("finished_at", n(float(f["finished_at"])))
            upd.set("updated_at", n(now())).set("lease_owner", None).set("lease_until", n(0))
            event_item = {**self._key(task_id, f"EVT#{row.seq:010d}"), "type": s(row.type), "data": s(row.data),
                          "expires_at": self._expires()}
            try:
                self.client.transact_write_items(TransactItems=[
                    {"Update": upd.request(self.table, self._key(task_id), cond)},
                    {"Put": {"TableName": self.table, "Item": event_item,
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                ])
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                task = self._get_task(task_id)
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    raise ConflictError(f"task {task_id} is {task.state}; it cannot become {f['state']}") from None
                raise ConflictError(f"event {row.seq} of task {task_id} already exists") from None
            return self._get_task(task_id)

        return await self._run(finish)

    async def active_tasks(self, agents: Collection[str]) -> list[TaskRecord]:
        """A Scan: only the local queue's restart recovery calls this. Deployed agents use SQS and their
        roles are not granted Scan, which IAM cannot limit to an agent's partition keys."""

        def scan() -> list[TaskRecord]:
            upd = Update()
            agent_marks = [upd.value(f"a{i}", s(a)) for i, a in enumerate(sorted(agents))]
            expr = (f"sk = {upd.value('sk', s(TASK_SK))} AND {upd.states_in(ACTIVE_STATES)} "
                    f"AND {upd.name('agent')} IN ({', '.join(agent_marks)})")
            kwargs: dict[str, Any] = {"TableName": self.table, "FilterExpression": expr,
                                      "ExpressionAttributeNames": upd.names, "ExpressionAttributeValues": upd.values}
            tasks: list[TaskRecord] = []
            while True:
                out = self.client.scan(**kwargs)
                tasks.extend(task_from_item(i) for i in out.get("Items", []))
                if "LastEvaluatedKey" not in out:
                    return sorted(tasks, key=lambda t: t.created_at)
                kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

        if not agents:
            return []
        return await self._run(scan)
