"""The in-process notifier lost (docs/runtime.md, Faults): no wake-up reaches any waiter, as when the API
and the worker run in different containers. SSE followers, approval waits and cancels fall back to
polling the store: every event still arrives once and in order, decisions and cancels still land."""

from __future__ import annotations

import json
import time
from collections.abc import Hashable, Iterator

import httpx
import pytest
from httpx_sse import connect_sse

from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from tests.api.support import API_KEY, ServerThread, make_tools, scripted_factory
from tests.faults.harness import User

POLL_S = 0.3


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("notifier"), api_keys=API_KEY, store="sqlite",
                        queue="local", agent=None)
    platform = create_platform(settings, runtime_factory=scripted_factory(make_tools()), heartbeat_s=0.3,
                               poll_s=POLL_S)
    notifier = platform.worker.notifier

    def lost(key: Hashable) -> None:
        """The channel is gone: nobody is woken."""

    notifier.notify = lost  # type: ignore[method-assign]
    with ServerThread(platform.app) as server, httpx.Client(
            base_url=f"{server.url}/v1/agents/research", headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=20) as http:
        yield User(http)


def test_an_sse_follower_gets_every_event_once_by_polling(user: User) -> None:
    task_id = user.submit("steps")
    seen = []
    with connect_sse(user.http, "GET", f"/tasks/{task_id}/events") as source:
        for sse in source.iter_sse():
            if sse.data:
                seen.append((int(sse.id), sse.event, json.loads(sse.data)["seq"]))
    assert [s[0] for s in seen] == list(range(1, len(seen) + 1)) and all(i == q for i, _, q in seen)
    assert seen[-1][1] == "task.finished" and [s[1] for s in seen].count("tool.started") == 4


def test_an_approval_is_seen_by_polling(user: User) -> None:
    task_id = user.submit("publish")
    call_id = user.until(task_id, lambda t: bool(t["pending_approvals"]))["pending_approvals"][0]["call_id"]
    r = user.http.post(f"/tasks/{task_id}/approvals/{call_id}", json={"approve": True})
    assert r.status_code == 200
    decided = time.monotonic()
    task = user.ended(task_id)
    assert task["state"] == "succeeded" and time.monotonic() - decided < 5 * POLL_S + 2


def test_a_cancel_is_seen_by_polling(user: User) -> None:
    task_id = user.submit("slow")  # a 30 s tool call
    user.until_event(task_id, "tool.started")  # "running" alone comes before the call: the cancel could beat it
    assert user.http.post(f"/tasks/{task_id}/cancel").status_code == 202
    task = user.ended(task_id, within_s=5)
    assert task["state"] == "cancelled"
    assert user.types(task_id)[-2:] == ["tool.finished", "task.cancelled"]
