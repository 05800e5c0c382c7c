"""A light caller for the AWS calls a task makes on every step: DynamoDB's and SQS's JSON APIs, Lambda's Invoke.

A boto3 call costs about 0.9 ms of CPU, most of it in what does not change from one call to the
next: parameter validation against the service model, serialization through the model, endpoint
rules, a dozen events, response parsing through the model. `LightClient` takes everything fixed
from a boto3 client once (endpoint URL with AWS_ENDPOINT_URL* and the region applied, credentials
as boto3 resolved them, refreshed when they expire, the HTTP session with its pool, proxies and
TLS settings, the retry handler) and makes each call with only what varies:

- the body: the parameters as JSON, once (DynamoDB's wire format is the low-level client's shapes);
- a SigV4 signature (`sign_v4`: what botocore's `SigV4Auth` computes, with the client's frozen credentials,
  at a tenth of its CPU; tests/test_aws_light.py compares the two);
- the client's own `before-send` event (test doubles and moto's in-process mock answer there), then
  the request on a kept-alive connection: of the thread for a blocking call (`agent_runtime.aws_http`),
  of the event loop for an awaited one (`acall`, `ainvoke`: `agent_runtime.aws_async`, no thread and no
  hand-off), botocore's HTTP session for an endpoint behind a proxy; on a failure the client's `needs-retry` event:
  botocore's standard retry handler decides and backs off exactly as for a boto3 call (throttling,
  5xx, connection errors, max attempts, retry quota), and `after-call` as boto3 fires it;
- the answer as JSON (`agent_runtime.aws_http.json_reply`); a failure raises the client's modeled `ClientError` subclass with the same
  `response` dict boto3 builds (`Error.Code`, `Error.Message`, `CancellationReasons`, ...).

Calls are made by the boto3 method names (`light.get_item(...)`), so a store can use the light
client and the boto3 client interchangeably; `light_client(client)` gives the client itself back
when it is not a botocore client (a test's wrapper), which then serves every call.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import hashlib
import hmac
import json
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from botocore.exceptions import NoCredentialsError
from botocore.utils import normalize_url_path

from agent_runtime import envnames as env
from agent_runtime.aws_async import AsyncConnections
from agent_runtime.aws_http import (
    Headers,
    KeptConnections,
    error_reply,
    host_header,
    invoke_reply,
    json_reply,
)
from agent_runtime.errors import ConfigurationError

CallListener = Callable[[str, str], None]  # (service, operation), once per call (not per retry)
_Parser = Callable[[AWSResponse], dict[str, Any]]
_Request = tuple[str, str, dict[str, str], bytes, _Parser]  # operation, URL, headers, body, the answer's parser


_light: weakref.WeakKeyDictionary[BaseClient, LightClient] = weakref.WeakKeyDictionary()
_light_lock = threading.Lock()


def light_client(client: Any) -> Any:
    """The `LightClient` over a botocore client (one per client: its users share its connections);
    anything else (a test's wrapper) is returned as it is, and so is every client when
    `AGENT_PLATFORM_AWS_TRANSPORT=boto3` (`Settings.aws_transport`, which validates it at startup)."""
    if not isinstance(client, BaseClient) or transport() == "boto3":
        return client
    with _light_lock:
        light = _light.get(client)
        if light is None:
            light = _light[client] = LightClient(client)
        return light


def transport() -> str:
    """`light` or `boto3`, from the environment (the setting's own variable)."""
    value = os.environ.get(env.AWS_TRANSPORT, "light").strip().lower() or "light"
    if value not in env.AWS_TRANSPORTS:
        raise ConfigurationError(f"{env.AWS_TRANSPORT} must be light or boto3, not {value!r}")
    return value


class LightClient:
    """Calls one service's JSON operations (and Lambda's Invoke) with what the boto3 `client` resolved."""

    def __init__(self, client: BaseClient) -> None:
        meta = client.meta
        model = meta.service_model
        self.client = client
        self.service = model.service_name
        self._protocol = model.resolved_protocol
        self._service_id = model.service_id.hyphenize()
        self._target = model.metadata.get("targetPrefix", "")
        self._content_type = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"
        self._url = meta.endpoint_url.rstrip("/")
        signer = client._request_signer  # region and signing name as the client resolved them
        self._credentials = signer._credentials  # noqa: SLF001  # refreshable credentials refresh themselves
        self._signing = (signer.signing_name, signer.region_name)
        self._endpoint = client._endpoint  # noqa: SLF001
        self._session = self._endpoint.http_session  # botocore's: for an endpoint behind a proxy
        self._kept = _direct(self._session, self._url, meta.config)
        self._verify = self._session._verify  # noqa: SLF001
        self._limit = meta.config.max_pool_connections
        self._async: AsyncConnections | None = None  # made at the first call on an event loop
        self._events = meta.events
        self._names = meta.method_to_api_mapping
        self._max_attempts = _max_attempts(client)
        self.listeners: list[CallListener] = []
        self._models: dict[str, Any] = {}  # operation name -> botocore's operation model

    def __getattr__(self, method: str) -> Callable[..., dict[str, Any]]:
        if method.startswith("_"):  # not an operation (and never looked up before __init__ set _names)
            raise AttributeError(method)
        operation = self._names.get(method)
        if operation is None:
            raise AttributeError(method)
        call = functools.partial(self.call, operation)
        setattr(self, method, call)  # found once
        return call

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One JSON-protocol operation; the answer as boto3's low-level client returns it."""
        return self._send(*self._json_request(operation, params))

    async def acall(self, method: str, **params: Any) -> dict[str, Any]:
        """The same call by its boto3 method name (`transact_write_items`), made on the running event loop
        (`agent_runtime.aws_async`): no thread, no hand-off; a retry's back-off is an `asyncio.sleep`."""
        operation = self._names.get(method)
        if operation is None:
            raise AttributeError(method)
        return await self._asend(*self._json_request(operation, params))

    def invoke(self, *, FunctionName: str, Payload: bytes,  # noqa: N803  # boto3's parameter names
               InvocationType: str = "RequestResponse") -> dict[str, Any]:
        """Lambda's Invoke (REST): `Payload` in the answer is the function's reply as bytes."""
        return self._send(*self._invoke_request(FunctionName, Payload, InvocationType))

    async def ainvoke(self, *, FunctionName: str, Payload: bytes,  # noqa: N803
                      InvocationType: str = "RequestResponse") -> dict[str, Any]:
        """Lambda's Invoke on the running event loop."""
        return await self._asend(*self._invoke_request(FunctionName, Payload, InvocationType))

    async def aclose(self) -> None:
        """Close this event loop's idle connections (the client stays usable)."""
        if self._async is not None:
            self._async.close_idle()

    def _json_request(self, operation: str, params: dict[str, Any]) -> _Request:
        if self._protocol != "json":
            raise ValueError(f"{self.service} does not speak the JSON protocol; only its JSON operations are light")
        body = json.dumps(params, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": self._content_type, "X-Amz-Target": f"{self._target}.{operation}"}
        return operation, self._url + "/", headers, body, json_reply

    def _invoke_request(self, function: str, payload: bytes, invocation_type: str) -> _Request:
        if self.service != "lambda":
            raise ValueError("invoke is Lambda's")
        url = f"{self._url}/2015-03-31/functions/{quote(function, safe='')}/invocations"
        headers = {"X-Amz-Invocation-Type": invocation_type, "Content-Type": "application/octet-stream"}
        return "Invoke", url, headers, payload, invoke_reply

    def _send(self, operation: str, url: str, headers: dict[str, str], body: bytes, reply: _Parser) -> dict[str, Any]:
        call = self._begin(operation)
        while True:
            http, parsed, caught = None, None, None
            try:
                ready = self._prepare(call, url, headers, body)
                http = ready if isinstance(ready, AWSResponse) else self._http(ready, body)
                parsed = reply(http) if http.status_code < 300 else error_reply(http)
            except Exception as exc:  # as botocore's endpoint: the retry handler judges it
                caught = exc
            delay = self._retry_delay(call, http, parsed, caught)
            if delay is None:
                return self._result(call, http, parsed)
            time.sleep(delay)

    async def _asend(self, operation: str, url: str, headers: dict[str, str], body: bytes,
                     reply: _Parser) -> dict[str, Any]:
        call = self._begin(operation)
        while True:
            http, parsed, caught = None, None, None
            try:
                ready = self._prepare(call, url, headers, body)
                http = ready if isinstance(ready, AWSResponse) else await self._ahttp(ready, body)
                parsed = reply(http) if http.status_code < 300 else error_reply(http)
            except Exception as exc:  # as botocore's endpoint: the retry handler judges it
                caught = exc
            delay = self._retry_delay(call, http, parsed, caught)
            if delay is None:
                return self._result(call, http, parsed)
            await asyncio.sleep(delay)

    def _begin(self, operation: str) -> _Call:
        for listener in self.listeners:
            listener(self.service, operation)
        model = self._models.get(operation)
        if model is None:
            model = self._models[operation] = self.client.meta.service_model.operation_model(operation)
        return _Call(operation, model)

    def _retry_delay(self, call: _Call, http: AWSResponse | None, parsed: dict[str, Any] | None,
                     caught: Exception | None) -> float | None:
        """None when the attempt's answer is the call's; else the client's retry handler's delay before the next
        attempt (raising what the attempt raised when it gives up)."""
        if http is not None and parsed is not None and http.status_code < 300:
            return None
        delay = _first(self._events.emit(
            f"needs-retry.{self._service_id}.{call.operation}", response=None if caught else (http, parsed),
            endpoint=self._endpoint, operation=call.model, attempts=call.attempts, caught_exception=caught,
            request_dict={"context": call.context}))
        if delay is not None and delay is not False:  # as botocore's endpoint: 0 is a retry at once
            call.attempts += 1
            return float(delay)
        if caught is not None:
            raise caught
        return None

    def _result(self, call: _Call, http: AWSResponse | None, parsed: dict[str, Any] | None) -> dict[str, Any]:
        # As boto3: after-call gives back retry quota, and maps an error's code where a service needs it.
        self._events.emit(f"after-call.{self._service_id}.{call.operation}", http_response=http, parsed=parsed,
                          model=call.model, context=call.context)
        assert http is not None and parsed is not None
        if http.status_code < 300:
            return parsed
        code = call.context.get("error_code_override") or parsed["Error"]["Code"]
        raise self.client.exceptions.from_code(code)(parsed, call.operation)

    def _prepare(self, call: _Call, url: str, headers: dict[str, str], body: bytes) -> AWSPreparedRequest | AWSResponse:
        """One attempt's signed request: the client's `before-sign` handlers may add headers (a trace header),
        its `before-send` handlers may answer (a mock: then their answer). The SDK's attempt headers are botocore's."""
        credentials = self._credentials.get_frozen_credentials() if self._credentials is not None else None
        if credentials is None:
            raise NoCredentialsError()
        operation = call.operation
        request = _Unsigned(url, Headers(headers), body)
        request.headers["amz-sdk-invocation-id"] = call.invocation
        request.headers["amz-sdk-request"] = f"attempt={call.attempts}; max={self._max_attempts}"
        self._events.emit(f"before-sign.{self._service_id}.{operation}", request=request, operation_name=operation,
                          signing_name=self._signing[0], region_name=self._signing[1], signature_version="v4",
                          request_signer=self.client._request_signer)  # noqa: SLF001
        signed = sign_v4(request.headers, url, body, credentials, *self._signing)
        prepared = AWSPreparedRequest("POST", url, signed, body, False)
        answer = _first(self._events.emit(f"before-send.{self._service_id}.{operation}", request=prepared))
        return answer if answer is not None else prepared

    def _http(self, prepared: AWSPreparedRequest, body: bytes) -> AWSResponse:
        if self._kept is not None and prepared.url.startswith(self._url):
            return self._kept.send("POST", prepared.url, prepared.headers, body)
        return self._session.send(prepared)  # type: ignore[no-any-return]

    async def _ahttp(self, prepared: AWSPreparedRequest, body: bytes) -> AWSResponse:
        if self._kept is not None and prepared.url.startswith(self._url):
            if self._async is None:
                self._async = AsyncConnections(self._url, connect_timeout=self._kept.connect_timeout,
                                               read_timeout=self._kept.read_timeout, verify=self._verify,
                                               keepalive=self._kept.keepalive, limit=self._limit)
            return await self._async.send("POST", prepared.url, prepared.headers, body)
        # Behind a proxy: botocore's session, on the loop's default executor.
        return await asyncio.get_running_loop().run_in_executor(None, self._session.send, prepared)


def _invocation_id() -> str:
    """A random (version 4) UUID for `amz-sdk-invocation-id`, as botocore sends, at a fifth of `uuid.uuid4()`'s CPU."""
    h = f"{random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))  # the version and variant bits
_UUID4_SET = (0x4 << 76) | (0x2 << 62)  # version 4, variant RFC 4122


class _Call:
    """One API call across its attempts."""

    def __init__(self, operation: str, model: Any) -> None:
        self.operation, self.model = operation, model
        self.attempts = 1
        self.invocation = _invocation_id()
        self.context: dict[str, Any] = {}


def sign_v4(headers: dict[str, str], url: str, body: bytes, credentials: Any, service: str, region: str,
            when: datetime.datetime | None = None) -> dict[str, str]:
    """`headers` with the SigV4 headers of a request (botocore's `SigV4Auth`, for a POST whose headers
    are all signed; about a tenth of its CPU: no header maps, no URL parsing beyond the path)."""
    stamp = when.strftime("%Y%m%dT%H%M%SZ") if when is not None else _stamp(int(time.time()))
    headers["X-Amz-Date"] = stamp
    if credentials.token:
        headers["X-Amz-Security-Token"] = credentials.token
    host, path, query = _url_parts(url)
    signed = sorted([("host", host), *((k.lower(), " ".join(v.split())) for k, v in headers.items())])
    names = ";".join(k for k, _ in signed)
    canonical = "\n".join([
        "POST", path, query,
        "".join(f"{k}:{v}\n" for k, v in signed), names, hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.digest(_signing_key(credentials.secret_key, stamp[:8], region, service), to_sign.encode(),
                            "sha256").hex()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
                                f"SignedHeaders={names}, Signature={signature}")
    return headers


@functools.lru_cache(maxsize=256)
def _url_parts(url: str) -> tuple[str, str, str]:
    """A URL's signed host, canonical path and query (a client calls a handful of URLs)."""
    split = urlsplit(url)
    return host_header(split), quote(normalize_url_path(split.path), safe="/~"), split.query


@functools.lru_cache(maxsize=4)
def _stamp(second: int) -> str:
    """SigV4's timestamp of a second (UTC), made once per second."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))


@functools.lru_cache(maxsize=16)
def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


class _Unsigned:
    """The request as `before-sign` handlers see it (what they use of botocore's `AWSRequest`), without
    that class's header map and body preparation."""

    method = "POST"

    def __init__(self, url: str, headers: Headers, body: bytes) -> None:
        self.url, self.headers, self.body, self.data = url, headers, body, body
        self.context: dict[str, Any] = {}
        self.params: dict[str, Any] = {}


def _max_attempts(client: BaseClient) -> int:
    """The attempts botocore's standard retries give a call of this client (for the `amz-sdk-request` header)."""
    from botocore.retries import standard

    configured = (client.meta.config.retries or {}).get("total_max_attempts")
    by_service: dict[str, int] = getattr(standard, "_SERVICE_MAX_ATTEMPTS", {})
    return int(configured or by_service.get(client.meta.service_model.service_id.hyphenize(),
                                            standard.DEFAULT_MAX_ATTEMPTS))


def _direct(session: Any, url: str, config: Any) -> KeptConnections | None:
    """Kept connections to the endpoint, unless botocore's session would reach it through a proxy."""
    if session._proxy_config.proxy_url_for(url):  # noqa: SLF001
        return None
    return KeptConnections(url, connect_timeout=config.connect_timeout, read_timeout=config.read_timeout,
                           verify=session._verify, keepalive=bool(config.tcp_keepalive))  # noqa: SLF001


def _first(responses: list[tuple[Any, Any]]) -> Any:
    for _, value in responses:
        if value is not None:
            return value
    return None
