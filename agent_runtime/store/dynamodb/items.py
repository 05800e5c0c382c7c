"""DynamoDB attribute encoding: typed values, the store's items and records, update expressions.

Calls use the low-level client, so values are `{"S": ...}` / `{"N": ...}` maps (built by
`s` and `n`, named after those type descriptors) and no Decimal conversions happen.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime.events import Usage
from agent_runtime.store.base import ApprovalRecord, TaskRecord, now
from agent_runtime.store.encoding import dumps

Item = dict[str, dict[str, Any]]

TASK_SK = "TASK"
SESSION_SK = "SESSION"  # a session's order: its last place and task (beside its `MSG#` memory items)


def task_pk(task_id: str) -> str:
    """The partition key of a task and everything that belongs to it: the task id itself, which starts
    with the agent's name (`agent_runtime.table_keys`), so IAM can keep each agent to its own tasks."""
    return task_id


def s(value: str) -> dict[str, str]:
    """A string attribute."""
    return {"S": value}


def n(value: float) -> dict[str, str]:
    """A number attribute (floats keep their full precision)."""
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def num(attr: dict[str, str] | None, default: float = 0.0) -> float:
    """The value of a number attribute, or `default` when absent."""
    return float(attr["N"]) if attr else default


def text(attr: dict[str, Any] | None) -> str | None:
    """The value of a string attribute, or None when absent."""
    return attr["S"] if attr else None


def error_code(exc: ClientError) -> str:
    """The AWS error code of a failed call (`ConditionalCheckFailedException`, ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def task_from_item(item: Item) -> TaskRecord:
    """A `TaskRecord` from the task's item."""
    return TaskRecord(
        task_id=item["pk"]["S"], agent=item["agent"]["S"], input=item["input"]["S"],
        state=item["state"]["S"], session_id=text(item.get("session_id")),  # type: ignore[arg-type]
        owner=text(item.get("owner")),
        metadata=json.loads(item["metadata"]["S"]), limits=json.loads(item["limits"]["S"]),
        created_at=num(item.get("created_at")), updated_at=num(item.get("updated_at")),
        started_at=num(item["started_at"]) if "started_at" in item else None,
        finished_at=num(item["finished_at"]) if "finished_at" in item else None,
        answer=text(item.get("answer")), error=text(item.get("error")), stop_reason=text(item.get("stop_reason")),
        steps=int(num(item.get("steps"))), usage=Usage.model_validate_json(item["usage"]["S"]),
        cost_usd=num(item.get("cost_usd")), last_seq=int(num(item.get("last_seq"))),
        cancel_requested=bool(item.get("cancel_requested", {}).get("BOOL", False)),
        attempts=int(num(item.get("attempts"))), lease_owner=text(item.get("lease_owner")),
        lease_until=num(item.get("lease_until")), session_seq=int(num(item.get("session_seq"))),
        session_prev=text(item.get("session_prev")), trace_context=text(item.get("trace_context")),
    )


def approval_item(a: ApprovalRecord, expires_at: float) -> Item:
    """The item of a new (pending) approval."""
    item: Item = {
        "pk": s(task_pk(a.task_id)), "sk": s(f"APR#{a.call_id}"), "tool": s(a.tool),
        "arguments": s(dumps(a.arguments)), "step": n(a.step), "deadline": n(float(a.deadline)),
        "requested_at": n(float(a.requested_at or now())), "status": s(a.status), "expires_at": n(int(expires_at)),
    }
    return item


def approval_from_item(item: Item) -> ApprovalRecord:
    """An `ApprovalRecord` from its item."""
    return ApprovalRecord(
        task_id=item["pk"]["S"], call_id=item["sk"]["S"].removeprefix("APR#"),
        tool=item["tool"]["S"], arguments=json.loads(item["arguments"]["S"]), step=int(num(item["step"])),
        deadline=num(item["deadline"]), requested_at=num(item.get("requested_at")),
        status=item["status"]["S"],  # type: ignore[arg-type]
        reason=text(item.get("reason")), decided_by=text(item.get("decided_by")),
        decided_at=num(item["decided_at"]) if "decided_at" in item else None,
    )


class Update:
    """Builds an UpdateItem expression from attribute values, with placeholders for every name."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attr: str) -> str:
        """The placeholder of an attribute name (reserved words such as `state` need one)."""
        self.names[f"#{attr}"] = attr
        return f"#{attr}"

    def value(self, key: str, value: dict[str, Any]) -> str:
        """The placeholder of a value."""
        self.values[f":{key}"] = value
        return f":{key}"

    def set(self, attr: str, value: dict[str, Any] | None) -> Update:
        """Set the attribute, or remove it when `value` is None."""
        if value is None:
            self.removes.append(self.name(attr))
        else:
            self.sets.append(f"{self.name(attr)} = {self.value(attr, value)}")
        return self

    def expression(self) -> str:
        """The UpdateExpression text."""
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)

    def states_in(self, states: Collection[str]) -> str:
        """A condition: the task's state is one of `states`."""
        marks = [self.value(f"st{i}", s(st)) for i, st in enumerate(sorted(states))]
        return f"{self.name('state')} IN ({', '.join(marks)})"

    def not_cancelled(self) -> str:
        """A condition: the task's cancel has not been requested."""
        flag = self.name("cancel_requested")
        return f"(attribute_not_exists({flag}) OR {flag} = {self.value('no_cancel', {'BOOL': False})})"

    def request(self, table: str, key: Item, condition: str) -> dict[str, Any]:
        """The keyword arguments of an `update_item` call (or a transaction's `Update`)."""
        req: dict[str, Any] = {
            "TableName": table, "Key": key, "UpdateExpression": self.expression(),
            "ConditionExpression": condition, "ExpressionAttributeNames": self.names,
        }
        if self.values:
            req["ExpressionAttributeValues"] = self.values
        return req


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
