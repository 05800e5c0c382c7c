"""`LambdaTool`: a catalog tool deployed as a Lambda function, invoked synchronously with boto3.

Sends `{"arguments": ..., "task_id": ..., "call_id": ...}` (the event shape of
`lambda_tools.lambda_handler`) and maps every failure to a `ToolError` the model can read. With tracing
on, the event also carries the `execute_tool` span's W3C context (`trace_context`) and the request an
`X-Amzn-Trace-Id` header made from it, so both the handler's span and X-Ray's record of the invocation
join the task's trace.

Calls are made on the event loop through the client's light client (`agent_runtime.aws_light`): a call
in flight is a connection and a waiting task, not a thread. Up to `max_pool_connections` (one per call the
worker may have in flight, `Settings.worker_concurrency`) are open at once. A client that is not a botocore
client (a test's wrapper), or `AGENT_PLATFORM_AWS_TRANSPORT=boto3`, makes blocking calls, which run on an
executor of their own with a thread per call in flight, shared by every `LambdaTool` of the process (on
asyncio's default executor, min(32, CPUs + 4) threads, the calls of a busy container would queue).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError
from pydantic import BaseModel

from agent_runtime import tracing
from agent_runtime.aws_light import LightClient, light_client
from agent_runtime.errors import ToolError, ToolInputError, ToolTimeoutError
from agent_runtime.settings import Settings
from agent_runtime.tools.base import writes
from agent_runtime.tools.local import validated
from lambda_tools.spec import ToolSpec

CONNECT_TIMEOUT_S = 5
DEFAULT_MAX_CALLS: int = Settings.model_fields["worker_concurrency"].default
_RETRYABLE_CODES = frozenset({"TooManyRequestsException", "ThrottlingException", "ServiceException",
                              "ResourceNotReadyException", "EC2ThrottledException"})


def lambda_client_config(max_tool_timeout_s: int, max_calls: int = DEFAULT_MAX_CALLS) -> Config:
    """Client settings: the read timeout outlasts the slowest function; one retry on transient errors;
    a kept connection per call in flight (botocore keeps 10; past that urllib3 opens one per call and drops it)."""
    return Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=max_tool_timeout_s + 5,
        retries={"total_max_attempts": 2, "mode": "standard"},
        tcp_keepalive=True,
        max_pool_connections=max_calls,
    )


def make_lambda_client(max_tool_timeout_s: int = 60, *, max_calls: int = DEFAULT_MAX_CALLS, **kwargs: Any) -> Any:
    """A boto3 Lambda client configured by `lambda_client_config`."""
    import boto3

    return boto3.client("lambda", config=lambda_client_config(max_tool_timeout_s, max_calls), **kwargs)


_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_executor_size = 0


def lambda_executor(max_calls: int = DEFAULT_MAX_CALLS) -> ThreadPoolExecutor:
    """The process's executor for Lambda calls, with at least `max_calls` threads.

    Threads start only when calls need them, so a large size costs nothing until used. Asked
    for more than it has, it is replaced by a bigger one; the old one finishes its calls.
    """
    global _executor, _executor_size
    with _executor_lock:
        if _executor is None or _executor_size < max_calls:
            previous = _executor
            _executor = ThreadPoolExecutor(max_calls, thread_name_prefix="lambda-invoke")
            _executor_size = max_calls
            if previous is not None:
                previous.shutdown(wait=False)
        return _executor


# Beyond the tool's own timeout, how long a cancel waits for a writing invocation under way.
WRITE_GRACE_S = 10


def _trace_header(request: Any, **_: Any) -> None:
    """botocore hook (before-sign of Invoke, in the calling thread, which sees the caller's context)."""
    carrier = tracing.carrier()  # None while tracing is off
    header = tracing.xray_header(carrier) if carrier else None
    if header:
        request.headers["X-Amzn-Trace-Id"] = header


class LambdaTool:
    """Invokes the tool's function (RequestResponse) on the process's Lambda executor."""

    def __init__(self, spec: ToolSpec, function_name: str, *, client: Any, max_calls: int = DEFAULT_MAX_CALLS) -> None:
        if not function_name:
            raise ValueError(f"a function name or ARN is needed for tool {spec.name}")
        if max_calls < 1:
            raise ValueError(f"max_calls must be at least 1, got {max_calls}")
        self.spec = spec
        self.function_name = function_name
        self.client = client
        self.api = light_client(client)  # the calls: the client's endpoint, credentials and retries, a third of its CPU
        self._on_loop = isinstance(self.api, LightClient)  # awaited on the event loop, else blocking on the executor
        self._writes = writes(spec)
        self.max_calls = max_calls
        events = getattr(getattr(client, "meta", None), "events", None)
        if events is not None:  # once per client, however many tools share it
            events.register("before-sign.lambda.Invoke", _trace_header, unique_id="agent-platform-trace-header")

    def __repr__(self) -> str:
        return f"LambdaTool({self.spec.name!r}, {self.function_name!r})"

    async def invoke(self, args: BaseModel, *, task_id: str, call_id: str) -> dict[str, Any]:
        """The function's `data`; `ToolError` for `ok: false` and function errors, `ToolTimeoutError` on timeouts."""
        model = validated(self.spec, args)
        event: dict[str, Any] = {"arguments": model.model_dump(mode="json", exclude_none=True), "task_id": task_id,
                                 "call_id": call_id}
        carrier = tracing.carrier()  # None while tracing is off
        if carrier:
            event["trace_context"] = carrier
        payload = json.dumps(event, ensure_ascii=False).encode("utf-8")
        future: asyncio.Future[dict[str, Any]]
        if self._on_loop:
            if not self._writes:
                return await self._ainvoke(payload)
            future = asyncio.ensure_future(self._ainvoke(payload))  # a task, so a cancel can wait for it
        else:
            # As asyncio.to_thread does: the call sees the caller's context variables (log fields).
            call = functools.partial(contextvars.copy_context().run, self._invoke, payload)
            future = asyncio.get_running_loop().run_in_executor(lambda_executor(self.max_calls), call)
        if not self._writes:
            return await future
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # An invocation cannot be called back: a writing one ends before the cancel (or timeout) is
            # confirmed, so nothing is written after it; its result is discarded.
            await asyncio.wait({future}, timeout=self.spec.timeout_s + WRITE_GRACE_S)
            raise

    def _invoke(self, payload: bytes) -> dict[str, Any]:
        try:
            response = self.api.invoke(FunctionName=self.function_name, InvocationType="RequestResponse",
                                       Payload=payload)
            body = response["Payload"].read()
        except (BotoCoreError, ClientError) as exc:
            raise self._failure(exc) from None
        return self._result(response, body)

    async def _ainvoke(self, payload: bytes) -> dict[str, Any]:
        try:
            response = await self.api.ainvoke(FunctionName=self.function_name, InvocationType="RequestResponse",
                                              Payload=payload)
            body = response["Payload"].read()
        except (BotoCoreError, ClientError) as exc:
            raise self._failure(exc) from None
        return self._result(response, body)

    def _failure(self, exc: BotoCoreError | ClientError) -> ToolError:
        """An invocation's failure as the tool's error: timeouts, Lambda's refusals, connection errors."""
        name = self.spec.name
        if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
            return ToolTimeoutError(f"{name} did not answer in time ({type(exc).__name__})", retryable=True)
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "ClientError")
            return ToolError(f"could not invoke {name}: {code}: {error.get('Message', '')}".rstrip(": "),
                             retryable=code in _RETRYABLE_CODES)
        return ToolError(f"could not invoke {name}: {exc}", retryable=True)

    def _result(self, response: dict[str, Any], body: bytes) -> dict[str, Any]:
        """The function's `data` from its answer."""
        name = self.spec.name
        if response.get("FunctionError"):
            raise self._function_error(body)
        try:
            result = json.loads(body)
        except ValueError:
            raise ToolError(f"{name} returned a reply that is not JSON") from None
        if not isinstance(result, dict) or "ok" not in result:
            raise ToolError(f"{name} returned an unexpected reply (no 'ok' field)")
        if not result["ok"]:
            error = result.get("error") or {}
            message = str(error.get("message") or "the tool failed without a message")
            if error.get("type") == "invalid_arguments":
                raise ToolInputError(message)
            raise ToolError(message, retryable=error.get("type") == "internal_error")
        data = result.get("data")
        return data if isinstance(data, dict) else {"result": data}

    def _function_error(self, body: bytes) -> ToolError:
        """An unhandled error or a timeout inside the function (the handler itself never raises)."""
        try:
            detail = json.loads(body)
        except ValueError:
            detail = {}
        message = str(detail.get("errorMessage", "")) if isinstance(detail, dict) else ""
        kind = str(detail.get("errorType", "")) if isinstance(detail, dict) else ""
        if "timed out" in message.lower() or kind == "Sandbox.Timedout":
            return ToolTimeoutError(f"{self.spec.name} timed out inside Lambda ({self.spec.timeout_s} s)")
        return ToolError(f"{self.spec.name} crashed: {kind or 'error'}: {message[:300] or 'no details'}",
                         retryable=True)
