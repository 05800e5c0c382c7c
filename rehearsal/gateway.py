"""The AWS gateway: every AWS call of the services and the tool functions goes through it to moto.

It knows whose credentials signed each request (the operator's, an agent's task role, a
function's role), authorizes the request against that role's policy documents with the real
resource ARN (`rehearsal.iam`), forwards it to moto, and records it (service, action, bytes,
the task it was for) so `rehearsal.costs` can price what a task costs.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rehearsal.iam import Request, access_key_of, decide, parse, partition_key_of

TASK_ID = re.compile(rb"\b[a-z][a-z0-9_]*-[0-9a-f]{32}\b")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "expect", "host", "proxy-connection"}
_JSON_SERVICES = {"dynamodb": "DynamoDB_20120810", "secretsmanager": "secretsmanager", "logs": "Logs_20140328"}


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print dropped connections (a peer killed on purpose)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (OSError, http.client.HTTPException)):
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class Principal:
    """Who holds a set of credentials: `role_arn` None means the operator (administrator)."""

    label: str  # "operator", "service:research", "function:AgentPlatform-search-documents"
    role_arn: str | None


@dataclass
class Call:
    """One recorded AWS request."""

    principal: str
    service: str
    action: str
    bytes_in: int
    bytes_out: int
    status: int
    task_id: str | None
    denied: str | None = None
    duration_ms: float = 0.0
    memory_mb: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Thread-safe list of calls, with the receipt-handle -> task map SQS attribution needs."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._handles: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def remember_handle(self, handle: str, task_id: str) -> None:
        with self._lock:
            self._handles[handle] = task_id

    def task_of_handle(self, handle: str) -> str | None:
        return self._handles.get(handle)

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)


class Gateway:
    """Authorizing, recording reverse proxy in front of moto (loopback only)."""

    def __init__(self, moto_port: int, policies: dict[str, list[dict[str, Any]]],
                 secret_arns: dict[str, str], recorder: Recorder) -> None:
        self.moto_port = moto_port
        self.policies = policies
        self.secret_arns = secret_arns
        self.recorder = recorder
        self.principals: dict[str, Principal] = {}
        self.task_of_key: Callable[[str], str | None] = lambda key: None
        # Table name -> its DescribeTable `Table` (None: no such table), read from moto directly.
        self.describe_table: Callable[[str], dict[str, Any] | None] = lambda table: None
        self._descriptions: dict[str, dict[str, Any]] = {}
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)

    def start(self) -> Gateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def register(self, access_key: str, principal: Principal) -> None:
        self.principals[access_key] = principal

    def partition_key(self, table: str, index: str | None) -> str | None:
        """The partition-key attribute of `table` (or of its index), by the table's description (cached)."""
        if table not in self._descriptions:
            description = self.describe_table(table)
            if description is None:
                return None
            self._descriptions[table] = description
        return partition_key_of(self._descriptions[table], index)

    def authorize(self, access_key: str, request: Request) -> tuple[Principal | None, str | None]:
        """(principal, None) when allowed, else (principal or None, reason)."""
        principal = self.principals.get(access_key)
        if principal is None:
            return None, f"unknown access key {access_key}"
        if principal.role_arn is None:
            return principal, None
        return principal, decide(self.policies.get(principal.role_arn, []), request.authorizations())

    def _attribute(self, principal: Principal, access_key: str, request: Request, body: bytes,
                   reply: bytes) -> str | None:
        if principal.label.startswith("function:"):
            return self.task_of_key(access_key)
        found = TASK_ID.search(body) or TASK_ID.search(reply)
        if request.service == "sqs" and request.action.endswith("ReceiveMessage") and reply:
            for message in json.loads(reply).get("Messages", []):
                match = TASK_ID.search(message.get("Body", "").encode())
                if match:
                    self.recorder.remember_handle(message["ReceiptHandle"], match.group().decode())
        if found:
            return found.group().decode()
        handle = request.params.get("ReceiptHandle")
        return self.recorder.task_of_handle(handle) if isinstance(handle, str) else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

            def _any(self) -> None:
                gateway.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _any

        return Handler

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        """Authorize, forward, record one request."""
        started = time.perf_counter()
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        who = access_key_of(headers, h.path)
        if who is None:
            _reply(h, 403, {}, b'{"message": "request is not signed"}')
            return
        access_key, service = who
        request = parse(service, h.command, h.path, headers, body, self.secret_arns, self.partition_key)
        principal, denied = self.authorize(access_key, request)
        label = principal.label if principal else "unknown"
        if denied is not None:
            status, extra_headers, payload = _denial(request, label, denied)
            _reply(h, status, extra_headers, payload)
            self.recorder.add(Call(label, service, request.action, len(body), len(payload), status,
                                   None, denied=denied))
            return
        status, reply_headers, reply = self._forward(h.command, h.path, headers, body)
        _reply(h, status, reply_headers, reply, head=h.command == "HEAD")
        task = self._attribute(principal, access_key, request, body, reply) if principal else None
        self.recorder.add(Call(label, service, request.action, len(body), len(reply), status, task,
                               duration_ms=(time.perf_counter() - started) * 1000,
                               extra={**_capacity(request, body, reply), "shape": shape(request)}))

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes
                 ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.moto_port, timeout=60)
        try:
            out = {k: v for k, v in headers.items() if k not in _HOP_HEADERS}
            out["host"] = f"127.0.0.1:{self.moto_port}"
            conn.request(method, path, body=body or None, headers=out)
            response = conn.getresponse()
            data = response.read()
            return response.status, [(k, v) for k, v in response.getheaders()
                                     if k.lower() not in _HOP_HEADERS | {"content-length"}], data
        finally:
            conn.close()


def _reply(h: BaseHTTPRequestHandler, status: int, headers: Any, body: bytes, *, head: bool = False) -> None:
    h.send_response(status)
    items = headers.items() if isinstance(headers, dict) else headers
    for key, value in items:
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if not head:
        h.wfile.write(body)


def _denial(request: Request, label: str, reason: str) -> tuple[int, dict[str, str], bytes]:
    """The service's own AccessDenied reply shape, so boto3 raises a ClientError with the right code."""
    message = f"User: {label} is not authorized to perform: {request.action} ({reason})"
    if request.service in _JSON_SERVICES or request.service == "sqs":
        code = "AccessDenied" if request.service == "sqs" else "AccessDeniedException"
        body = json.dumps({"__type": code, "message": message}).encode()
        return 400, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{code};Sender"}, body
    if request.service == "s3":
        return 403, {"Content-Type": "application/xml"}, (
            f"<Error><Code>AccessDenied</Code><Message>{message}</Message></Error>").encode()
    code = "AuthorizationError" if request.service == "sns" else "AccessDenied"
    return 403, {"Content-Type": "text/xml"}, (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "</ErrorResponse>").encode()


def _capacity(request: Request, body: bytes, reply: bytes) -> dict[str, Any]:
    """DynamoDB on-demand units, estimated from item sizes as DynamoDB meters them (see costs.py)."""
    if request.service != "dynamodb":
        return {}
    name = request.action.split(":", 1)[1]
    transact = 2 if name.startswith("Transact") else 1
    if name in ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"):
        factor = 1.0 if request.params.get("ConsistentRead") or transact == 2 else 0.5
        return {"rru": max(1, -(-len(reply) // 4096)) * factor * transact}
    if name in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"):
        items = request.params.get("TransactItems") or [
            r for reqs in request.params.get("RequestItems", {}).values() for r in reqs] or [request.params]
        per_item = len(body) / max(1, len(items))
        return {"wru": len(items) * max(1, -(-int(per_item) // 1024)) * transact, "items": len(items)}
    return {}


def _set_attributes(params: dict[str, Any]) -> list[str]:
    """The attributes an UpdateItem's SET clause assigns (names resolved)."""
    expression = str(params.get("UpdateExpression", ""))
    names = params.get("ExpressionAttributeNames") or {}
    if not expression.startswith("SET ") or " REMOVE " in expression:
        return []
    return [names.get(a.split("=", 1)[0].strip(), a.split("=", 1)[0].strip())
            for a in expression[4:].split(",")]


PROGRESS_WRITE = "progress write"


def shape(request: Request) -> str | None:
    """What a request is for when its count depends on timing rather than on the task's work: a read of
    the task record, its events or approvals (status polls, SSE, the worker's watch for cancel requests and
    decisions), a lease renewal, a visibility extension, or a progress write (events and checkpoints, which
    the worker batches by what piled up during the previous write). None for everything else."""
    params, name = request.params, request.action.split(":", 1)[1]
    if request.service == "sqs":
        return "visibility extension" if name == "ChangeMessageVisibility" else None
    if request.service != "dynamodb":
        return None
    values = params.get("ExpressionAttributeValues") or {}
    sk = str((params.get("Key") or {}).get("sk", {}).get("S", ""))
    if name == "GetItem" and sk == "TASK" and "ProjectionExpression" not in params:
        return "task record read"
    if name == "GetItem" and sk.startswith("APR#"):
        return "approval read"
    if name == "Query" and str(values.get(":lo", {}).get("S", "")).startswith("EVT#"):
        return "event log read"
    if name == "Query" and ":apr" in values:
        return "approvals read"
    if name == "UpdateItem" and _set_attributes(params) == ["lease_until"]:
        return "lease renewal"
    if name == "BatchWriteItem" or (name == "UpdateItem" and _counts_progress(params)):
        return PROGRESS_WRITE
    if name == "TransactWriteItems" and any(_counts_progress(item.get("Update") or {})
                                            for item in params.get("TransactItems") or ()):
        return PROGRESS_WRITE  # a step's events, messages and counters in one transaction
    return None


def _counts_progress(update: dict[str, Any]) -> bool:
    """An update of the task's progress counters (not its end, which also removes the lease)."""
    return bool({"last_seq", "checkpoint"} & set(_set_attributes(update)))
