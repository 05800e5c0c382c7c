"""The table and the calls every part of the DynamoDB store shares: reads, conditional updates, batches."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from agent_runtime.aws_light import LightClient, light_client
from agent_runtime.errors import ConflictError, NotFoundError, StoreError
from agent_runtime.store.base import DEFAULT_RETENTION_S, TaskRecord, now
from agent_runtime.store.dynamodb.items import (
    TASK_SK,
    Item,
    Update,
    error_code,
    n,
    s,
    task_from_item,
    task_pk,
)

T = TypeVar("T")
CONFLICT_TRIES = 5  # a write meeting a transaction in progress on its item (TransactionConflict) tries again


class DynamoTable:
    """One table, its client and the thread pool that runs every (blocking) call.

    The store's parts (tasks, events, approvals, sessions) build on this class.
    """

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
        # Item calls go through the light client (a step's writes, reads, leases): same endpoint,
        # credentials, retries and errors as `client`, about a third of its CPU (`agent_runtime.aws_light`).
        self.api = light_client(self.client)
        self.retention_s = retention_s
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dynamo-store")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call on the pool; AWS faults other than lost conditions become `StoreError`."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except ClientError as exc:
            _raise_store_error(exc)
            raise

    async def _call(self, method: str, **params: Any) -> dict[str, Any]:
        """One call of the client's `method` (`transact_write_items`): on the running event loop through the
        light client, else (a test's wrapper, `AGENT_PLATFORM_AWS_TRANSPORT=boto3`) on the pool. Errors as `_run`."""
        if isinstance(self.api, LightClient):
            try:
                return await self.api.acall(method, **params)
            except ClientError as exc:
                _raise_store_error(exc)
                raise
        return await self._run(functools.partial(getattr(self.api, method), **params))

    async def _read_task(self, task_id: str) -> TaskRecord:
        """`_get_task` made with `_call`."""
        return _found(await self._call("get_item", TableName=self.table, Key=self._key(task_id), ConsistentRead=True),
                      task_id)

    def _expires(self, ttl: float | None = None) -> dict[str, str]:
        return n(int(time.time() + (ttl or self.retention_s)))

    def _key(self, task_id: str, sk: str = TASK_SK) -> Item:
        return {"pk": s(task_pk(task_id)), "sk": s(sk)}

    def _get_task(self, task_id: str) -> TaskRecord:
        return _found(self.api.get_item(TableName=self.table, Key=self._key(task_id), ConsistentRead=True), task_id)

    def _update_task(self, task_id: str, upd: Update, condition: str, explain: Callable[[TaskRecord], str]) -> TaskRecord:
        """Update the task if `condition` holds; otherwise `ConflictError` with `explain(task)`."""
        upd.set("updated_at", n(now()))
        cond = f"attribute_exists(pk) AND ({condition})" if condition else "attribute_exists(pk)"
        attempt = 0
        while True:
            try:
                out = self.api.update_item(**upd.request(self.table, self._key(task_id), cond), ReturnValues="ALL_NEW")
                return task_from_item(out["Attributes"])
            except ClientError as exc:
                code = error_code(exc)
                if code == "ConditionalCheckFailedException":
                    raise ConflictError(explain(self._get_task(task_id))) from None
                attempt += 1
                if code != "TransactionConflictException" or attempt == CONFLICT_TRIES:
                    raise
            # A step's transaction held the item at that moment (it lasts milliseconds): try again.
            time.sleep(0.01 * attempt)

    def _batch_put(self, items: list[Item]) -> None:
        """Put items 25 at a time, retrying what DynamoDB left unprocessed."""
        for i in range(0, len(items), 25):
            requests: list[dict[str, Any]] = [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]
            pending: dict[str, Any] = {self.table: requests}
            for attempt in range(8):
                out = self.api.batch_write_item(RequestItems=pending)
                pending = out.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise StoreError("DynamoDB kept throttling a batch write")

    def _query_all(self, **kwargs: Any) -> list[Item]:
        """Every page of a query, or the first `Limit` items."""
        items: list[Item] = []
        limit = kwargs.get("Limit")
        while True:
            out = self.api.query(TableName=self.table, **kwargs)
            items.extend(out.get("Items", []))
            key = out.get("LastEvaluatedKey")
            if key is None or (limit is not None and len(items) >= limit):
                return items
            kwargs["ExclusiveStartKey"] = key
            if limit is not None:
                kwargs["Limit"] = limit - len(items)

    async def close(self) -> None:
        """Finish queued calls, stop the pool, close the event loop's idle connections."""
        self._executor.shutdown(wait=True)
        if isinstance(self.api, LightClient):
            await self.api.aclose()


def _found(answer: dict[str, Any], task_id: str) -> TaskRecord:
    """The task a GetItem of its item found."""
    item = answer.get("Item")
    if item is None:
        raise NotFoundError(f"task {task_id!r} not found")
    return task_from_item(item)


def _raise_store_error(exc: ClientError) -> None:
    """An AWS fault as the store raises it: `StoreError`, unless it is a lost condition (the caller tells those)."""
    if error_code(exc) not in ("ConditionalCheckFailedException", "TransactionCanceledException"):
        raise StoreError(f"DynamoDB {error_code(exc)}: {exc}") from exc
