"""Scale-in protection follows the worker: set when it starts running tasks, renewed while it runs them,
cleared when it runs none; against a real HTTP server standing in for the ECS agent endpoint."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent_runtime.protection import ScaleInProtection
from tests.api.support import wait_until
from tests.test_worker import Rig, _true, running

SET: dict[str, object] = {"ProtectionEnabled": True, "ExpiresInMinutes": 60}
CLEAR: dict[str, object] = {"ProtectionEnabled": False}


class AgentEndpoint:
    """The ECS agent's task-protection endpoint: records each PUT; fails the first `fail` of them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []
        self.fail = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 (the stdlib's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.calls.append((self.path, body))
                failing = len(endpoint.calls) <= endpoint.fail
                reply = {"error": {"Code": "AccessDeniedException"}} if failing else {"protection": body}
                data = json.dumps(reply).encode()
                self.send_response(400 if failing else 200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/api/task-1"

    @property
    def bodies(self) -> list[dict[str, object]]:
        return [body for _, body in self.calls]


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[AgentEndpoint]:
    ep = AgentEndpoint()
    thread = threading.Thread(target=ep.server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ECS_AGENT_URI", ep.uri)
    yield ep
    ep.server.shutdown()
    ep.server.server_close()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path)
    yield r
    await r.store.close()


async def test_protected_while_tasks_run_and_cleared_when_none_do(endpoint: AgentEndpoint, rig: Rig) -> None:
    protection = ScaleInProtection.from_environ(clear_after_s=0.3)
    async with running(rig.worker(protection=protection)):
        first = await rig.submit("hello")
        await rig.done(first)
        await wait_until(lambda: _true(endpoint.bodies == [SET, CLEAR]))
        both = [await rig.submit("crash"), await rig.submit("crash")]  # two at once: one set, one clear
        for task_id in both:
            await rig.done(task_id)
        await wait_until(lambda: _true(len(endpoint.bodies) == 4))
    assert endpoint.bodies == [SET, CLEAR, SET, CLEAR]
    assert {path for path, _ in endpoint.calls} == {"/api/task-1/task-protection/v1/state"}


async def test_a_task_starting_soon_after_the_last_one_ended_keeps_protection(
        endpoint: AgentEndpoint, rig: Rig) -> None:
    async with running(rig.worker(protection=ScaleInProtection.from_environ(clear_after_s=1.0))):
        await rig.done(await rig.submit("hello"))
        await rig.done(await rig.submit("hello"))  # well within the second before protection is cleared
        await wait_until(lambda: _true(len(endpoint.bodies) == 2))
    assert endpoint.bodies == [SET, CLEAR]


async def test_protection_is_renewed_while_tasks_keep_running(endpoint: AgentEndpoint) -> None:
    protection = ScaleInProtection.from_environ(clear_after_s=0.0)
    protection.renew_s = 0.2  # an hour's protection is renewed every half hour; here every 0.2 s
    protection.busy(True)
    await wait_until(lambda: _true(len(endpoint.bodies) >= 3))
    protection.busy(False)
    await wait_until(lambda: _true(endpoint.bodies[-1] == CLEAR))
    await protection.close()
    assert endpoint.bodies[:3] == [SET, SET, SET] and endpoint.bodies.count(CLEAR) == 1


async def test_a_refused_call_is_a_warning_and_is_retried(endpoint: AgentEndpoint, rig: Rig,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    endpoint.fail = 1  # e.g. the task role lacks ecs:UpdateTaskProtection
    protection = ScaleInProtection.from_environ(clear_after_s=0.1, retry_s=0.1)
    with caplog.at_level(logging.WARNING, logger="agent_runtime.protection"):
        async with running(rig.worker(protection=protection)):
            task = await rig.done(await rig.submit("crash"))
            await wait_until(lambda: _true(endpoint.bodies[-1:] == [CLEAR]))
    assert task.state == "succeeded"  # the task never noticed
    assert endpoint.bodies == [SET, SET, CLEAR]
    assert any("could not set scale-in protection" in r.getMessage() for r in caplog.records)


async def test_nothing_is_called_outside_ecs(endpoint: AgentEndpoint, rig: Rig) -> None:
    async with running(rig.worker(protection=ScaleInProtection.from_environ({}, clear_after_s=0.0))):
        await rig.done(await rig.submit("crash"))
    assert endpoint.calls == []
