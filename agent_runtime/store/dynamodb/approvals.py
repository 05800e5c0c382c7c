"""Approvals of sensitive tool calls in DynamoDB: created once, decided once (conditional writes)."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime.errors import ConflictError, NotFoundError
from agent_runtime.store.base import ApprovalRecord, cancelled_conflict, decide_conflict, now
from agent_runtime.store.dynamodb.client import DynamoTable
from agent_runtime.store.dynamodb.items import (
    Update,
    approval_from_item,
    approval_item,
    error_code,
    n,
    s,
    task_pk,
)


class DynamoApprovals(DynamoTable):
    """The approvals part of the `Store` protocol over DynamoDB."""

    def _get_approval(self, task_id: str, call_id: str) -> ApprovalRecord:
        item = self.api.get_item(TableName=self.table, Key=self._key(task_id, f"APR#{call_id}"),
                                    ConsistentRead=True).get("Item")
        if item is None:
            raise NotFoundError(f"no approval {call_id!r} for task {task_id!r}")
        return approval_from_item(item)

    async def create_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        def create() -> ApprovalRecord:
            item = approval_item(approval, time.time() + self.retention_s)
            try:
                self.api.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
            return self._get_approval(approval.task_id, approval.call_id)

        return await self._run(create)

    async def get_approval(self, task_id: str, call_id: str) -> ApprovalRecord:
        return await self._run(self._get_approval, task_id, call_id)

    async def list_approvals(self, task_id: str, *, pending_only: bool = False) -> list[ApprovalRecord]:
        def read() -> list[ApprovalRecord]:
            items = self._query_all(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :apr)", ConsistentRead=True,
                ExpressionAttributeValues={":pk": s(task_pk(task_id)), ":apr": s("APR#")},
            )
            records = sorted((approval_from_item(i) for i in items), key=lambda a: (a.requested_at, a.call_id))
            return [a for a in records if a.status == "pending" or not pending_only]

        return await self._run(read)

    async def decide_approval(
        self, task_id: str, call_id: str, *, approved: bool, reason: str | None, decided_by: str,
        enforce_deadline: bool = True, unless_cancelled: bool = False,
    ) -> ApprovalRecord:
        def decide() -> ApprovalRecord:
            t = now()
            upd = Update().set("status", s("approved" if approved else "rejected"))
            upd.set("reason", s(reason) if reason is not None else None)
            upd.set("decided_by", s(decided_by)).set("decided_at", n(t))
            cond = f"attribute_exists(pk) AND {upd.name('status')} = {upd.value('pending', s('pending'))}"
            if enforce_deadline:
                cond += f" AND {upd.name('deadline')} >= {upd.value('now', n(t))}"
            request = upd.request(self.table, self._key(task_id, f"APR#{call_id}"), cond)
            try:
                if unless_cancelled:
                    self._decide_unless_cancelled(task_id, request)
                    return self._get_approval(task_id, call_id)
                out = self.api.update_item(**request, ReturnValues="ALL_NEW")
            except ClientError as exc:
                if error_code(exc) not in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                    raise
                record = self._get_approval(task_id, call_id)
                if record.status == "pending" and unless_cancelled:
                    raise ConflictError(cancelled_conflict(task_id)) from None
                raise ConflictError(decide_conflict(record)) from None
            return approval_from_item(out["Attributes"])

        return await self._run(decide)

    def _decide_unless_cancelled(self, task_id: str, request: dict[str, Any]) -> None:
        """The decision's update in one transaction with a check that the task's cancel was not
        requested, so a decision and a cancel are ordered by the store (one of them loses)."""
        check = Update()
        self.api.transact_write_items(TransactItems=[
            {"ConditionCheck": {"TableName": self.table, "Key": self._key(task_id),
                                "ConditionExpression": f"attribute_exists(pk) AND {check.not_cancelled()}",
                                "ExpressionAttributeNames": check.names, "ExpressionAttributeValues": check.values}},
            {"Update": request},
        ])
