"""Session memory in DynamoDB: one item per message (`MSG#<idx>`), the session id (`<agent>/<id>`, as the
worker scopes it) being the partition key; trimmed as SQLite's is. The same partition holds the session's
order (`SESSION`, written by `create_task`), which these queries skip."""

from __future__ import annotations

import json
import time

from botocore.exceptions import ClientError

from agent_runtime.models.base import Message
from agent_runtime.store.base import MAX_SESSION_MESSAGES, SESSION_RETENTION_S, trim_session
from agent_runtime.store.dynamodb.client import DynamoTable
from agent_runtime.store.dynamodb.items import error_code, s
from agent_runtime.store.encoding import dumps


class DynamoSessions(DynamoTable):
    """The loop's `Memory` protocol over the table's session items."""

    async def load(self, session_id: str) -> list[Message]:
        def read() -> list[Message]:
            items = self._query_all(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
                ExpressionAttributeValues={":pk": s(session_id), ":msg": s("MSG#")},
                ScanIndexForward=False, Limit=MAX_SESSION_MESSAGES + 1, ConsistentRead=True,
            )
            return trim_session([json.loads(i["data"]["S"]) for i in reversed(items)])

        return await self._run(read)

    async def append(self, session_id: str, messages: list[Message]) -> None:
        pk = s(session_id)

        def add() -> None:
            for attempt in range(6):
                out = self.api.query(TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
                                        ExpressionAttributeValues={":pk": pk, ":m": s("MSG#")}, ScanIndexForward=False,
                                        Limit=1, ConsistentRead=True, ProjectionExpression="sk")
                items = out.get("Items", [])
                start = int(items[0]["sk"]["S"][4:]) + 1 if items else 0
                expires = self._expires(SESSION_RETENTION_S)
                puts = [{"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                                 "Item": {"pk": pk, "sk": s(f"MSG#{start + i:08d}"), "data": s(dumps(m)),
                                          "expires_at": expires}}} for i, m in enumerate(messages)]
                try:
                    self.api.transact_write_items(TransactItems=puts[:100])
                except ClientError as exc:  # another task of the session appended first: recount
                    if error_code(exc) != "TransactionCanceledException" or attempt == 5:
                        raise
                    time.sleep(0.05 * (attempt + 1))
                    continue
                for i in range(100, len(puts), 100):  # the indexes are ours now
                    self.api.transact_write_items(TransactItems=puts[i:i + 100])
                return

        if messages:
            await self._run(add)
