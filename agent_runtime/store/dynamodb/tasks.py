"""Tasks and their leases in DynamoDB: conditional UpdateItems on the task item, idempotent creation."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime.errors import ConflictError, NotFoundError, StoreError
from agent_runtime.events import TerminalEvent
from agent_runtime.quotas import QUOTA_RETENTION_S, QuotaCharge, QuotaExceededError
from agent_runtime.store.base import (
    ACTIVE_STATES,
    IDEMPOTENCY_RETENTION_S,
    SESSION_RETENTION_S,
    SessionBusyPolicy,
    TaskRecord,
    TaskState,
    busy_session_error,
    claim_conflict,
    event_row,
    now,
    terminal_fields,
)
from agent_runtime.store.dynamodb.items import (
    SESSION_SK,
    TASK_SK,
    Item,
    Update,
    error_code,
    n,
    num,
    s,
    task_from_item,
    text,
)
from agent_runtime.store.dynamodb.listing import DynamoListing
from agent_runtime.store.encoding import dumps
from agent_runtime.table_keys import idempotency_pk, owns_task, task_id_prefix

QUOTA_SK = "QUOTA"
SESSION_WRITE_TRIES = 8  # submits racing for one session's next place; each loser reads the place again
CONDITION_FAILED = "ConditionalCheckFailed"


def _failed_writes(exc: ClientError, count: int) -> list[str] | None:
    """Why each of `count` writes failed ('None' for those that did not), or None for other errors."""
    code = error_code(exc)
    if code == "ConditionalCheckFailedException":  # a single put_item
        return [CONDITION_FAILED]
    if code != "TransactionCanceledException":
        return None
    reasons = [str(r.get("Code") or "None") for r in exc.response.get("CancellationReasons", [])]
    return reasons if len(reasons) == count else None


class DynamoTasks(DynamoListing):
    """The task half of the `Store` protocol over DynamoDB (with the listing, whose items a create writes)."""

    async def create_task(
        self, task: TaskRecord, *, idempotency_key: str | None = None, body_hash: str | None = None,
        session_busy: SessionBusyPolicy = "queue", quota: QuotaCharge | None = None,
    ) -> tuple[TaskRecord, bool]:
        if not owns_task(task.agent, task.task_id):  # its items would be outside the agent's IAM-granted keys
            raise ValueError(f"task id {task.task_id!r} must start with {task_id_prefix(task.agent)!r}")
        t = now()
        task.created_at = task.created_at or t
        task.updated_at = t
        put_idem: dict[str, Any] | None = None
        idem_key = {"pk": s(idempotency_pk(task.agent, idempotency_key or "")), "sk": s("IDEM")}
        if idempotency_key is not None:
            put_idem = {"Put": {
                "TableName": self.table,
                "Item": {**idem_key, "task_id": s(task.task_id), "body_hash": s(body_hash or ""),
                         "expires_at": self._expires(IDEMPOTENCY_RETENTION_S)},
                "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                "ExpressionAttributeValues": {":now": n(int(t))},
            }}

        charge = self._quota_update(quota)

        def create() -> tuple[TaskRecord, bool]:
            for attempt in range(SESSION_WRITE_TRIES):
                session = self._session_place(task, session_busy)
                put_task = {"Put": {"TableName": self.table, "Item": self._task_item(task),
                                    "ConditionExpression": "attribute_not_exists(pk)"}}
                writes = [w for w in (put_idem, put_task, charge, *self.list_index_puts(task), session)
                          if w is not None]
                try:
                    if len(writes) == 1:
                        self.api.put_item(**put_task["Put"])
                    else:
                        self.api.transact_write_items(TransactItems=writes)
                    return task, True
                except ClientError as exc:
                    codes = _failed_writes(exc, len(writes))
                    if codes is None:
                        raise
                if put_idem is not None and codes[0] == CONDITION_FAILED:
                    return self._replayed(idem_key, body_hash)
                if codes[writes.index(put_task)] == CONDITION_FAILED:
                    raise ConflictError(f"task {task.task_id!r} already exists")
                if quota is not None and charge is not None and codes[writes.index(charge)] == CONDITION_FAILED:
                    raise QuotaExceededError(quota, self._quota_used(quota))
                if session is None or codes[-1] not in (CONDITION_FAILED, "TransactionConflict"):
                    raise StoreError(f"could not create task: {codes}")
                # Another submit took the session's next place first: take the one after it.
                time.sleep(0.02 * (attempt + 1))
            raise ConflictError("the session is busy with other submits; retry")

        return await self._run(create)

    def _quota_update(self, quota: QuotaCharge | None) -> dict[str, Any] | None:
        """The transaction's write that adds the task's bytes to its principal's counter of the day,
        conditional on the sum staying within the limit (a charge over the limit alone never fits)."""
        if quota is None:
            return None
        fits_fresh = "attribute_not_exists(used) OR " if quota.nbytes <= quota.limit else ""
        return {"Update": {
            "TableName": self.table, "Key": {"pk": s(quota.key), "sk": s(QUOTA_SK)},
            "UpdateExpression": "ADD used :n SET expires_at = :expires",
            "ConditionExpression": fits_fresh + "used <= :room",
            "ExpressionAttributeValues": {":n": n(quota.nbytes), ":room": n(quota.limit - quota.nbytes),
                                          ":expires": self._expires(QUOTA_RETENTION_S)},
        }}

    def _quota_used(self, quota: QuotaCharge) -> int:
        """The counter's bytes (for the refusal's message)."""
        key = {"pk": s(quota.key), "sk": s(QUOTA_SK)}
        item = self.api.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        return int(num(item.get("used"))) if item else 0

    def _task_item(self, task: TaskRecord) -> Item:
        """The item of a new task."""
        item: Item = {
            **self._key(task.task_id), "agent": s(task.agent), "state": s(task.state), "input": s(task.input),
            "metadata": s(dumps(task.metadata)), "limits": s(dumps(task.limits)),
            "created_at": n(task.created_at), "updated_at": n(task.updated_at), "steps": n(0),
            "usage": s(task.usage.model_dump_json()), "cost_usd": n(0), "last_seq": n(0),
            "cancel_requested": {"BOOL": False}, "attempts": n(0), "lease_until": n(0),
            "expires_at": self._expires(), "session_seq": n(task.session_seq),
        }
        for attr, value in (("session_id", task.session_id), ("owner", task.owner),
                            ("session_prev", task.session_prev), ("trace_context", task.trace_context)):
            if value is not None:
                item[attr] = s(value)
        return item

    def _session_place(self, task: TaskRecord, busy: SessionBusyPolicy) -> dict[str, Any] | None:
        """Give a task with a session the session's next place (`session_seq`, `session_prev`), and the
        transaction's write that takes it: conditional on the place read still being the last one."""
        key = task.session_key
        if key is None:
            return None
        session_key = {"pk": s(key), "sk": s(SESSION_SK)}
        item = self.api.get_item(TableName=self.table, Key=session_key, ConsistentRead=True).get("Item")
        last_seq = int(num(item.get("last_seq"))) if item else 0
        last_task = text(item.get("last_task")) if item else None
        if busy == "reject" and last_task is not None:
            with contextlib.suppress(NotFoundError):  # expired: it ended long ago
                prev = self._get_task(last_task)
                if not prev.terminal:
                    raise busy_session_error(prev)
        task.session_seq, task.session_prev = last_seq + 1, last_task
        upd = Update().set("last_seq", n(task.session_seq)).set("last_task", s(task.task_id))
        upd.set("expires_at", self._expires(SESSION_RETENTION_S))
        cond = ("attribute_not_exists(pk)" if item is None
                else f"{upd.name('last_seq')} = {upd.value('seen', n(last_seq))}")
        return {"Update": upd.request(self.table, session_key, cond)}

    def _replayed(self, idem_key: Item, body_hash: str | None) -> tuple[TaskRecord, bool]:
        """The task an earlier request with the same idempotency key created."""
        existing = self.api.get_item(TableName=self.table, Key=idem_key, ConsistentRead=True).get("Item")
        if existing is None:  # expired between the two calls; the caller may retry
            raise ConflictError("the Idempotency-Key is being reused concurrently; retry")
        if existing["body_hash"]["S"] != (body_hash or ""):
            raise ConflictError("the Idempotency-Key was already used with a different request body")
        return self._get_task(existing["task_id"]["S"]), False

    async def get_task(self, task_id: str) -> TaskRecord:
        return await self._read_task(task_id)

    async def claim_task(self, task_id: str, *, owner: str, lease_s: float) -> TaskRecord:
        t = now()

        def claim() -> TaskRecord:
            task = self._get_task(task_id)
            if task.session_prev is not None and not task.terminal:
                # Its session's earlier task runs first. Ended is final, so a check before the write holds.
                with contextlib.suppress(NotFoundError):  # expired: it ended long ago
                    prev = self._get_task(task.session_prev)
                    if not prev.terminal:
                        raise busy_session_error(prev)
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
        from_states: Collection[str] = ACTIVE_STATES, unless_cancelled: bool = False,
    ) -> TaskRecord:
        f = terminal_fields(event)
        row = event_row(event)

        def finish() -> TaskRecord:
            upd = Update()
            cond = "attribute_exists(pk) AND " + upd.states_in(from_states)
            if owner:
                cond += f" AND {upd.name('lease_owner')} = {upd.value('owner', s(owner))}"
            if unless_cancelled:
                cond += f" AND {upd.not_cancelled()}"
            upd.set("state", s(f["state"])).set("stop_reason", s(f["stop_reason"])).set("steps", n(f["steps"]))
            upd.set("answer", s(f["answer"]) if f["answer"] is not None else None)
            upd.set("error", s(f["error"]) if f["error"] is not None else None)
            upd.set("usage", s(f["usage"].model_dump_json())).set("cost_usd", n(float(f["cost_usd"])))
            upd.set("last_seq", n(f["last_seq"])).set("finished_at", n(float(f["finished_at"])))
            upd.set("updated_at", n(now())).set("lease_owner", None).set("lease_until", n(0))
            event_item = {**self._key(task_id, f"EVT#{row.seq:010d}"), "type": s(row.type), "data": s(row.data),
                          "expires_at": self._expires()}
            try:
                self.api.transact_write_items(TransactItems=[
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
