"""The light AWS client's calls on the event loop (`LightClient.acall` / `ainvoke` over
`agent_runtime.aws_async`): the same answers, errors and retries as its blocking calls, kept connections
that survive the server closing them, chunked answers, timeouts, and a cancelled call that leaves no
half-read connection behind. The store's progress writes and the Lambda tool's invocations take this path."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.retries.standard import ExponentialBackoff

from agent_runtime.aws_async import AsyncConnections
from agent_runtime.aws_light import light_client
from tests.aws_server import Server, ok, server_fixture  # noqa: F401  # (the `server` fixture)


def _client(service: str, url: str, **config: Any) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="k",
                        aws_secret_access_key="s", config=Config(retries={"mode": "standard"}, **config))


def _bad(error: dict[str, str]) -> bytes:
    body = json.dumps(error).encode()
    return b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def test_a_kept_connection_serves_many_requests_and_reopens_once_closed(server: Server) -> None:
    conns = AsyncConnections(server.url, connect_timeout=1, read_timeout=2)
    server.answers = [(ok(b"one"), False), (ok(b"two"), True), (ok(b"three"), False), (ok(b"four"), False)]
    assert (await conns.send("POST", server.url + "/", {}, b"1")).content == b"one"
    assert (await conns.send("POST", server.url + "/", {}, b"2")).content == b"two"  # the server closes after it
    await asyncio.sleep(0.05)
    assert (await conns.send("POST", server.url + "/", {}, b"3")).content == b"three"  # on a new connection
    assert (await conns.send("POST", server.url + "/", {}, b"4")).content == b"four"
    assert server.connections == 2


async def test_a_request_whose_kept_connection_closes_unanswered_is_sent_again_once(server: Server) -> None:
    """The server closed the idle connection as the request went out (its keep-alive ran out): nothing of
    an answer arrived, so the request goes again on a new connection; a second such close is an error."""
    conns = AsyncConnections(server.url, connect_timeout=1, read_timeout=2)
    server.answers = [(ok(b"one"), False), (b"", True), (ok(b"two"), False), (b"", True), (b"", True)]
    assert (await conns.send("POST", server.url + "/", {}, b"1")).content == b"one"
    assert (await conns.send("POST", server.url + "/", {}, b"2")).content == b"two"
    assert server.connections == 2
    with pytest.raises(ConnectionClosedError):
        await conns.send("POST", server.url + "/", {}, b"3")


async def test_a_chunked_answer_split_across_reads_is_read_whole(server: Server) -> None:
    conns = AsyncConnections(server.url, connect_timeout=1, read_timeout=2)
    server.answers = [(b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nX-Amzn-ErrorType: Boom\r\n\r\n"
                       b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n", False), (ok(b"next"), False)]
    answer = await conns.send("POST", server.url + "/", {}, b"")
    assert answer.status_code == 400 and answer.content == b'{"a":1}'
    assert answer.headers.get("X-Amzn-ErrorType") == "Boom"
    assert (await conns.send("POST", server.url + "/", {}, b"")).content == b"next" and server.connections == 1


async def test_nothing_listening_is_botocores_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conns = AsyncConnections(f"http://127.0.0.1:{port}", connect_timeout=1, read_timeout=1)
    with pytest.raises(EndpointConnectionError):
        await conns.send("POST", f"http://127.0.0.1:{port}/", {}, b"")


async def test_a_silent_server_is_a_read_timeout_and_the_connection_is_not_reused(server: Server) -> None:
    conns = AsyncConnections(server.url, connect_timeout=1, read_timeout=0.2)
    server.answers = [(b"", False), (ok(b"late"), False)]  # the first request gets no answer at all
    with pytest.raises(ReadTimeoutError):
        await conns.send("POST", server.url + "/", {}, b"1")
    assert (await conns.send("POST", server.url + "/", {}, b"2")).content == b"late"
    assert server.connections == 2


async def test_a_cancelled_call_drops_its_connection_and_the_next_call_gets_its_own_answer(server: Server) -> None:
    conns = AsyncConnections(server.url, connect_timeout=1, read_timeout=5)
    server.answers = [(b"", False), (ok(b"mine"), False)]
    call = asyncio.create_task(conns.send("POST", server.url + "/", {}, b"1"))
    await asyncio.sleep(0.1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (await conns.send("POST", server.url + "/", {}, b"2")).content == b"mine"
    assert server.connections == 2


async def test_acall_gives_boto3s_answer_and_modeled_error(server: Server) -> None:
    light = light_client(_client("dynamodb", server.url))
    item = {"Item": {"pk": {"S": "x"}}}
    server.answers = [(ok(json.dumps(item).encode()), False),
                      (_bad({"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
                             "message": "no table"}), False)]
    got = await light.acall("get_item", TableName="t", Key={"pk": {"S": "x"}})
    assert got["Item"] == item["Item"] and got["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as caught:
        await light.acall("get_item", TableName="t", Key={"pk": {"S": "x"}})
    assert type(caught.value).__name__ == "ResourceNotFoundException"
    assert caught.value.response["Error"] == {"Code": "ResourceNotFoundException", "Message": "no table"}
    with pytest.raises(AttributeError):
        await light.acall("no_such_method")


async def test_acall_retries_throttling_with_botocores_handler(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    light = light_client(_client("dynamodb", server.url))
    server.answers = [(_bad({"__type": "ThrottlingException", "message": "slow down"}), False)] * 2 + [
        (ok(b"{}"), False)]
    assert (await light.acall("put_item", TableName="t", Item={"pk": {"S": "x"}}))["ResponseMetadata"][
        "HTTPStatusCode"] == 200
    assert server.answers == []  # three attempts


async def test_ainvoke_returns_the_functions_reply_and_its_error_header(server: Server) -> None:
    light = light_client(_client("lambda", server.url))
    server.answers = [(b"HTTP/1.1 200 OK\r\nX-Amz-Function-Error: Unhandled\r\nContent-Length: 2\r\n\r\n{}", False)]
    out = await light.ainvoke(FunctionName="fn", Payload=b"{}")
    assert out["FunctionError"] == "Unhandled" and out["Payload"].read() == b"{}" and out["StatusCode"] == 200


async def test_closing_drops_the_idle_connections_and_the_next_call_opens_one(server: Server) -> None:
    light = light_client(_client("dynamodb", server.url))
    server.answers = [(ok(b"{}"), False), (ok(b"{}"), False)]
    await light.acall("put_item", TableName="t", Item={"pk": {"S": "x"}})
    await light.aclose()
    await light.acall("put_item", TableName="t", Item={"pk": {"S": "x"}})
    assert server.connections == 2


async def test_a_transport_of_another_event_loop_implementation_is_used_as_it_is() -> None:
    """uvloop's transports are not `asyncio.Transport` subclasses (uvicorn runs on uvloop when it is installed):
    the connection only writes to and closes what it is given."""
    from agent_runtime.aws_async import _Connection

    class Transport:  # what uvloop's TCP transport offers the protocol: write and close
        def __init__(self, conn: _Connection) -> None:
            self.conn, self.closed = conn, False

        def write(self, data: bytes) -> None:
            asyncio.get_running_loop().call_soon(self.conn.data_received, ok(b"answer"))

        def close(self) -> None:
            self.closed = True

    conn = _Connection("http://127.0.0.1:1/")
    transport = Transport(conn)
    conn.connection_made(transport)  # type: ignore[arg-type]
    assert await conn.exchange(b"GET / HTTP/1.1\r\n\r\n", 1) == (200, {"content-length": "6"}, b"answer", True)
    assert not transport.closed
