"""`python -m bench.moto_keepalive`: moto's server application behind uvicorn, with keep-alive.

moto's own server (werkzeug's development server) closes the connection after every response,
so each boto3 call would pay a new TCP connection (a connect, a socket, a dropped-connection
retry in urllib3) that AWS's endpoints, which keep connections alive, do not make it pay.
The application is moto's (`DomainDispatcherApplication`, as `python -m moto.server` serves it);
only the HTTP server differs. Prints `READY <url>` once listening on a free port of 127.0.0.1.

One change to moto: its TransactWriteItems deep-copies the whole table for each write of the
transaction before applying any, for a rollback (O(table size) per write; DynamoDB has no such
cost). A step's progress is one transaction, so as the bench's table grew every step would cost
more and more of the machine's CPU in this process (the runtime's CPU, measured beside it, got
noisier with it). Here the transaction's conditions are checked first: when they all hold, it is
applied without the copies; when one fails, moto's own code runs it (copies, rollback, the
cancellation reasons), so every answer is the one moto gives.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from typing import Any

import uvicorn
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from uvicorn.middleware.wsgi import WSGIMiddleware

_local = threading.local()


class _TableCopies:
    """`copy` as moto's DynamoDB models use it, except that a table is not copied while
    `_local.checked` (a transaction whose conditions all hold cannot need its rollback)."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_local, "checked", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _conditions_hold(backend: Any, transact_items: list[dict[str, Any]]) -> bool:
    from moto.dynamodb import models

    seen: set[tuple[str, str]] = set()
    for item in transact_items:
        if len(item) != 1:
            return False
        op_type, op = next(iter(item.items()))
        table = backend.get_table(op["TableName"])
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        mark = (op["TableName"], str(sorted(key.items())))
        if mark in seen:
            return False
        seen.add(mark)
        if op.get("ConditionExpression") is not None:
            check = models.get_filter_expression(op["ConditionExpression"], op.get("ExpressionAttributeNames"),
                                                 op.get("ExpressionAttributeValues"))
            if not check.expr(backend.get_item(op["TableName"], key)):
                return False
    return True


def _light_transactions() -> None:
    from moto.dynamodb import models

    models.copy = _TableCopies  # type: ignore[assignment]
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        try:
            _local.checked = len(transact_items) <= 100 and _conditions_hold(self, transact_items)
        except Exception:  # whatever moto makes of it, it says so itself
            _local.checked = False
        try:
            original(self, transact_items)
        finally:
            _local.checked = False

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


async def _serve() -> None:
    _light_transactions()
    app = DomainDispatcherApplication(create_backend_app)
    config = uvicorn.Config(WSGIMiddleware(app, workers=8), host="127.0.0.1", port=0, log_level="warning",
                            lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"READY http://127.0.0.1:{port}", flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(_serve())
